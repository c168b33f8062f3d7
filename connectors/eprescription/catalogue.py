"""The medication catalogue: a few hundred common presentations, generated deterministically.

Molecule names, strengths, forms and packs are real common ones; the CIP13 codes are
the emulation's own (`3400955` and a 5-digit serial, with a valid EAN-13 check digit)
and are not the codes of real products. Search ignores case and accents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from bsp_tui.domain.patients import normalise_name
from connectors.eprescription.models import ean13_check_digit

CIP13_PREFIX = "3400955"

# (molecule, form, strengths, packs): every strength comes in every pack.
_SPECS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Paracétamol", "comprimé", ("500 mg", "1 g"), ("boîte de 8", "boîte de 16")),
    ("Paracétamol", "gélule", ("500 mg",), ("boîte de 16",)),
    ("Paracétamol", "suspension buvable", ("2,4 %",), ("flacon de 100 ml",)),
    ("Ibuprofène", "comprimé", ("200 mg", "400 mg"), ("boîte de 20", "boîte de 30")),
    ("Ibuprofène", "suspension buvable", ("20 mg/ml",), ("flacon de 150 ml",)),
    ("Amoxicilline", "gélule", ("500 mg",), ("boîte de 12", "boîte de 24")),
    ("Amoxicilline", "comprimé dispersible", ("1 g",), ("boîte de 6", "boîte de 14")),
    (
        "Amoxicilline",
        "poudre pour suspension buvable",
        ("250 mg/5 ml", "500 mg/5 ml"),
        ("flacon de 60 ml",),
    ),
    (
        "Amoxicilline / acide clavulanique",
        "comprimé",
        ("500 mg/62,5 mg", "1 g/125 mg"),
        ("boîte de 8", "boîte de 16"),
    ),
    ("Azithromycine", "comprimé", ("250 mg",), ("boîte de 6",)),
    ("Clarithromycine", "comprimé", ("250 mg", "500 mg"), ("boîte de 14",)),
    ("Pristinamycine", "comprimé", ("500 mg",), ("boîte de 16",)),
    ("Doxycycline", "comprimé", ("100 mg",), ("boîte de 5", "boîte de 15")),
    ("Ciprofloxacine", "comprimé", ("500 mg",), ("boîte de 10",)),
    ("Lévofloxacine", "comprimé", ("500 mg",), ("boîte de 5", "boîte de 10")),
    ("Fosfomycine trométamol", "granulés pour solution buvable", ("3 g",), ("sachet de 1",)),
    ("Nitrofurantoïne", "gélule", ("50 mg",), ("boîte de 21",)),
    ("Céfixime", "comprimé", ("200 mg",), ("boîte de 8",)),
    ("Cefpodoxime", "comprimé", ("100 mg",), ("boîte de 10",)),
    ("Métronidazole", "comprimé", ("250 mg", "500 mg"), ("boîte de 14", "boîte de 20")),
    ("Codéine / paracétamol", "comprimé", ("30 mg/500 mg",), ("boîte de 16",)),
    ("Tramadol", "gélule", ("50 mg",), ("boîte de 30",)),
    ("Tramadol / paracétamol", "comprimé", ("37,5 mg/325 mg",), ("boîte de 20",)),
    ("Kétoprofène", "gélule", ("50 mg",), ("boîte de 24",)),
    ("Naproxène", "comprimé", ("550 mg",), ("boîte de 16",)),
    ("Diclofénac", "comprimé gastro-résistant", ("50 mg",), ("boîte de 30",)),
    ("Diclofénac", "gel", ("1 %",), ("tube de 50 g", "tube de 100 g")),
    (
        "Acide acétylsalicylique",
        "poudre pour solution buvable",
        ("75 mg", "160 mg"),
        ("boîte de 30",),
    ),
    ("Néfopam", "solution injectable", ("20 mg/2 ml",), ("boîte de 5 ampoules",)),
    ("Oméprazole", "gélule gastro-résistante", ("10 mg", "20 mg"), ("boîte de 14", "boîte de 28")),
    (
        "Ésoméprazole",
        "gélule gastro-résistante",
        ("20 mg", "40 mg"),
        ("boîte de 14", "boîte de 28"),
    ),
    (
        "Pantoprazole",
        "comprimé gastro-résistant",
        ("20 mg", "40 mg"),
        ("boîte de 14", "boîte de 28"),
    ),
    (
        "Lansoprazole",
        "gélule gastro-résistante",
        ("15 mg", "30 mg"),
        ("boîte de 14", "boîte de 28"),
    ),
    ("Dompéridone", "comprimé", ("10 mg",), ("boîte de 20",)),
    ("Métoclopramide", "comprimé", ("10 mg",), ("boîte de 20",)),
    ("Phloroglucinol", "comprimé orodispersible", ("80 mg",), ("boîte de 10",)),
    ("Trimébutine", "comprimé", ("100 mg",), ("boîte de 30",)),
    ("Lopéramide", "gélule", ("2 mg",), ("boîte de 12", "boîte de 20")),
    ("Macrogol 4000", "poudre pour solution buvable", ("10 g",), ("boîte de 20 sachets",)),
    ("Lactulose", "solution buvable", ("10 g/15 ml",), ("boîte de 20 sachets",)),
    ("Diosmectite", "poudre pour suspension buvable", ("3 g",), ("boîte de 30 sachets",)),
    (
        "Alginate de sodium / bicarbonate de sodium",
        "suspension buvable",
        ("500 mg/267 mg",),
        ("boîte de 24 sachets",),
    ),
    ("Amlodipine", "gélule", ("5 mg", "10 mg"), ("boîte de 30", "boîte de 90")),
    ("Ramipril", "comprimé", ("2,5 mg", "5 mg", "10 mg"), ("boîte de 30", "boîte de 90")),
    ("Périndopril", "comprimé", ("4 mg", "8 mg"), ("boîte de 30", "boîte de 90")),
    ("Énalapril", "comprimé", ("5 mg", "20 mg"), ("boîte de 28",)),
    ("Losartan", "comprimé", ("50 mg", "100 mg"), ("boîte de 30", "boîte de 90")),
    ("Valsartan", "comprimé", ("80 mg", "160 mg"), ("boîte de 30", "boîte de 90")),
    ("Irbésartan", "comprimé", ("150 mg", "300 mg"), ("boîte de 30", "boîte de 90")),
    ("Candésartan", "comprimé", ("8 mg", "16 mg"), ("boîte de 30",)),
    ("Hydrochlorothiazide", "comprimé", ("25 mg",), ("boîte de 30",)),
    ("Indapamide", "comprimé à libération prolongée", ("1,5 mg",), ("boîte de 30", "boîte de 90")),
    ("Furosémide", "comprimé", ("20 mg", "40 mg"), ("boîte de 30",)),
    ("Spironolactone", "comprimé", ("25 mg", "50 mg"), ("boîte de 30",)),
    (
        "Bisoprolol",
        "comprimé",
        ("1,25 mg", "2,5 mg", "5 mg", "10 mg"),
        ("boîte de 30", "boîte de 90"),
    ),
    ("Aténolol", "comprimé", ("50 mg", "100 mg"), ("boîte de 30",)),
    ("Nébivolol", "comprimé", ("5 mg",), ("boîte de 30", "boîte de 90")),
    (
        "Atorvastatine",
        "comprimé",
        ("10 mg", "20 mg", "40 mg", "80 mg"),
        ("boîte de 30", "boîte de 90"),
    ),
    ("Rosuvastatine", "comprimé", ("5 mg", "10 mg", "20 mg"), ("boîte de 30", "boîte de 90")),
    ("Simvastatine", "comprimé", ("20 mg", "40 mg"), ("boîte de 28", "boîte de 84")),
    ("Pravastatine", "comprimé", ("20 mg", "40 mg"), ("boîte de 30",)),
    ("Ézétimibe", "comprimé", ("10 mg",), ("boîte de 30", "boîte de 90")),
    ("Clopidogrel", "comprimé", ("75 mg",), ("boîte de 30", "boîte de 90")),
    ("Apixaban", "comprimé", ("2,5 mg", "5 mg"), ("boîte de 60",)),
    ("Rivaroxaban", "comprimé", ("15 mg", "20 mg"), ("boîte de 28",)),
    ("Fluindione", "comprimé", ("20 mg",), ("boîte de 30",)),
    ("Warfarine", "comprimé", ("2 mg", "5 mg"), ("boîte de 20", "boîte de 30")),
    (
        "Énoxaparine",
        "solution injectable en seringue",
        ("4000 UI/0,4 ml", "6000 UI/0,6 ml"),
        ("boîte de 10 seringues",),
    ),
    ("Metformine", "comprimé", ("500 mg", "850 mg", "1000 mg"), ("boîte de 30", "boîte de 90")),
    (
        "Gliclazide",
        "comprimé à libération modifiée",
        ("30 mg", "60 mg"),
        ("boîte de 30", "boîte de 90"),
    ),
    ("Sitagliptine", "comprimé", ("50 mg", "100 mg"), ("boîte de 28",)),
    ("Dapagliflozine", "comprimé", ("10 mg",), ("boîte de 30",)),
    ("Insuline glargine", "solution injectable en stylo", ("100 U/ml",), ("boîte de 5 stylos",)),
    ("Insuline asparte", "solution injectable en stylo", ("100 U/ml",), ("boîte de 5 stylos",)),
    (
        "Lévothyroxine",
        "comprimé",
        ("25 µg", "50 µg", "75 µg", "100 µg", "125 µg"),
        ("boîte de 30", "boîte de 90"),
    ),
    ("Prednisolone", "comprimé orodispersible", ("5 mg", "20 mg"), ("boîte de 20",)),
    ("Prednisone", "comprimé", ("1 mg", "5 mg", "20 mg"), ("boîte de 20", "boîte de 30")),
    ("Bétaméthasone", "crème", ("0,05 %",), ("tube de 30 g",)),
    ("Hydrocortisone", "crème", ("0,5 %",), ("tube de 15 g",)),
    ("Desloratadine", "comprimé", ("5 mg",), ("boîte de 15", "boîte de 30")),
    ("Cétirizine", "comprimé", ("10 mg",), ("boîte de 7", "boîte de 15", "boîte de 30")),
    ("Lévocétirizine", "comprimé", ("5 mg",), ("boîte de 28",)),
    ("Bilastine", "comprimé", ("20 mg",), ("boîte de 10", "boîte de 30")),
    ("Salbutamol", "suspension pour inhalation", ("100 µg/dose",), ("flacon de 200 doses",)),
    (
        "Budésonide / formotérol",
        "poudre pour inhalation",
        ("200 µg/6 µg",),
        ("inhalateur de 120 doses",),
    ),
    (
        "Fluticasone / salmétérol",
        "poudre pour inhalation",
        ("250 µg/50 µg", "500 µg/50 µg"),
        ("inhalateur de 60 doses",),
    ),
    ("Tiotropium", "solution pour inhalation", ("2,5 µg/dose",), ("cartouche de 60 doses",)),
    ("Montélukast", "comprimé", ("10 mg",), ("boîte de 28",)),
    (
        "Mométasone",
        "suspension pour pulvérisation nasale",
        ("50 µg/dose",),
        ("flacon de 140 doses",),
    ),
    ("Sertraline", "gélule", ("25 mg", "50 mg"), ("boîte de 7", "boîte de 28")),
    ("Escitalopram", "comprimé", ("5 mg", "10 mg", "20 mg"), ("boîte de 28",)),
    ("Paroxétine", "comprimé", ("20 mg",), ("boîte de 14", "boîte de 28")),
    ("Fluoxétine", "gélule", ("20 mg",), ("boîte de 14", "boîte de 28")),
    ("Venlafaxine", "gélule à libération prolongée", ("37,5 mg", "75 mg"), ("boîte de 30",)),
    ("Duloxétine", "gélule gastro-résistante", ("30 mg", "60 mg"), ("boîte de 28",)),
    ("Mirtazapine", "comprimé", ("15 mg",), ("boîte de 30",)),
    ("Alprazolam", "comprimé", ("0,25 mg", "0,5 mg"), ("boîte de 30",)),
    ("Bromazépam", "comprimé quadrisécable", ("6 mg",), ("boîte de 30",)),
    ("Oxazépam", "comprimé", ("10 mg", "50 mg"), ("boîte de 30",)),
    ("Zolpidem", "comprimé sécable", ("10 mg",), ("boîte de 7", "boîte de 14")),
    ("Zopiclone", "comprimé", ("7,5 mg",), ("boîte de 5", "boîte de 14")),
    ("Hydroxyzine", "comprimé", ("25 mg",), ("boîte de 30",)),
    ("Quétiapine", "comprimé", ("25 mg", "100 mg"), ("boîte de 30", "boîte de 60")),
    ("Rispéridone", "comprimé", ("1 mg", "2 mg"), ("boîte de 30", "boîte de 60")),
    ("Olanzapine", "comprimé", ("5 mg", "10 mg"), ("boîte de 28",)),
    ("Lamotrigine", "comprimé", ("25 mg", "100 mg"), ("boîte de 30",)),
    ("Lévétiracétam", "comprimé", ("500 mg", "1000 mg"), ("boîte de 60",)),
    ("Valproate de sodium", "comprimé gastro-résistant", ("200 mg", "500 mg"), ("boîte de 40",)),
    ("Prégabaline", "gélule", ("25 mg", "75 mg", "150 mg"), ("boîte de 56",)),
    ("Gabapentine", "gélule", ("300 mg", "400 mg"), ("boîte de 90",)),
    ("Lévodopa / carbidopa", "comprimé", ("100 mg/10 mg", "250 mg/25 mg"), ("boîte de 100",)),
    ("Donépézil", "comprimé", ("5 mg", "10 mg"), ("boîte de 28",)),
    ("Allopurinol", "comprimé", ("100 mg", "300 mg"), ("boîte de 28", "boîte de 30")),
    ("Colchicine", "comprimé", ("1 mg",), ("boîte de 15",)),
    ("Alendronate", "comprimé", ("70 mg",), ("boîte de 4", "boîte de 12")),
    ("Cholécalciférol", "solution buvable en ampoule", ("100 000 UI",), ("boîte de 1 ampoule",)),
    (
        "Calcium / cholécalciférol",
        "comprimé à sucer",
        ("500 mg/400 UI", "1000 mg/800 UI"),
        ("boîte de 60",),
    ),
    ("Fer (sulfate ferreux)", "comprimé pelliculé", ("80 mg",), ("boîte de 30",)),
    ("Acide folique", "comprimé", ("0,4 mg", "5 mg"), ("boîte de 30",)),
    ("Cyanocobalamine", "solution injectable", ("1000 µg/2 ml",), ("boîte de 4 ampoules",)),
    ("Potassium chlorure", "gélule à libération prolongée", ("600 mg",), ("boîte de 30",)),
    ("Magnésium / vitamine B6", "comprimé", ("48 mg/5 mg",), ("boîte de 50",)),
    ("Tamsulosine", "gélule à libération prolongée", ("0,4 mg",), ("boîte de 30", "boîte de 90")),
    ("Finastéride", "comprimé", ("5 mg",), ("boîte de 28",)),
    ("Solifénacine", "comprimé", ("5 mg",), ("boîte de 30",)),
    (
        "Lévonorgestrel / éthinylestradiol",
        "comprimé",
        ("0,1 mg/0,02 mg", "0,15 mg/0,03 mg"),
        ("boîte de 1 plaquette de 21", "boîte de 3 plaquettes de 21"),
    ),
    ("Désogestrel", "comprimé", ("75 µg",), ("boîte de 3 plaquettes de 28",)),
    ("Progestérone", "capsule", ("100 mg", "200 mg"), ("boîte de 15", "boîte de 30")),
    ("Estradiol", "gel", ("0,06 %",), ("tube de 80 g",)),
    ("Aciclovir", "comprimé", ("200 mg", "800 mg"), ("boîte de 25", "boîte de 35")),
    ("Aciclovir", "crème", ("5 %",), ("tube de 2 g", "tube de 10 g")),
    ("Valaciclovir", "comprimé", ("500 mg",), ("boîte de 10", "boîte de 42")),
    ("Oseltamivir", "gélule", ("75 mg",), ("boîte de 10",)),
    ("Fluconazole", "gélule", ("50 mg", "150 mg"), ("boîte de 1", "boîte de 7")),
    ("Éconazole", "crème", ("1 %",), ("tube de 30 g",)),
    ("Terbinafine", "comprimé", ("250 mg",), ("boîte de 14", "boîte de 28")),
    ("Ivermectine", "comprimé", ("3 mg",), ("boîte de 4", "boîte de 20")),
    ("Perméthrine", "crème", ("5 %",), ("tube de 30 g",)),
    ("Fusidique (acide)", "crème", ("2 %",), ("tube de 15 g",)),
    ("Mupirocine", "pommade", ("2 %",), ("tube de 15 g",)),
    ("Tobramycine", "collyre en solution", ("0,3 %",), ("flacon de 5 ml",)),
    ("Dexaméthasone / tobramycine", "collyre en suspension", ("0,1 %/0,3 %",), ("flacon de 5 ml",)),
    ("Latanoprost", "collyre en solution", ("50 µg/ml",), ("flacon de 2,5 ml",)),
    ("Timolol", "collyre en solution", ("0,25 %", "0,5 %"), ("flacon de 3 ml",)),
    (
        "Sérum physiologique",
        "solution pour lavage nasal et oculaire",
        ("0,9 %",),
        ("boîte de 40 unidoses",),
    ),
    ("Chlorhexidine", "solution pour application cutanée", ("0,05 %",), ("flacon de 100 ml",)),
    ("Lidocaïne / prilocaïne", "crème", ("2,5 %/2,5 %",), ("tube de 5 g", "tube de 30 g")),
    ("Morphine", "gélule à libération prolongée", ("10 mg", "30 mg"), ("boîte de 14",)),
    ("Oxycodone", "gélule", ("5 mg", "10 mg"), ("boîte de 14",)),
    ("Ondansétron", "comprimé orodispersible", ("4 mg", "8 mg"), ("boîte de 4",)),
    ("Sumatriptan", "comprimé", ("50 mg",), ("boîte de 2", "boîte de 6")),
    ("Méthotrexate", "comprimé", ("2,5 mg",), ("boîte de 20",)),
    ("Hydroxychloroquine", "comprimé", ("200 mg",), ("boîte de 30",)),
)


@dataclass(frozen=True)
class Medication:
    """One presentation of the catalogue."""

    cip13: str
    molecule: str
    strength: str
    form: str
    pack: str

    @property
    def label(self) -> str:
        """How prescriptions and screens name it."""
        return f"{self.molecule.upper()} {self.strength}, {self.form}, {self.pack}"

    def as_json(self) -> dict:
        """The CLI's JSON shape."""
        return {
            "cip13": self.cip13,
            "name": self.label,
            "molecule": self.molecule,
            "strength": self.strength,
            "form": self.form,
            "pack": self.pack,
        }


def _cip13(serial: int) -> str:
    body = f"{CIP13_PREFIX}{serial:05d}"
    return body + ean13_check_digit(body)


@cache
def catalogue() -> tuple[Medication, ...]:
    """Every presentation, in a fixed order: the CIP13 serials follow it."""
    presentations = [
        (molecule, strength, form, pack)
        for molecule, form, strengths, packs in _SPECS
        for strength in strengths
        for pack in packs
    ]
    return tuple(
        Medication(_cip13(serial), *presentation)
        for serial, presentation in enumerate(presentations, start=1)
    )


@cache
def _by_cip13() -> dict[str, Medication]:
    return {medication.cip13: medication for medication in catalogue()}


def _words(text: str) -> list[str]:
    # Decimal strengths keep their comma: "2,5" is one word.
    return re.findall(r"[A-Z0-9]+(?:,[0-9]+)?", normalise_name(text))


def _matches(word: str, words: list[str]) -> bool:
    # A number is a whole word ("1" is not "16"); letters may start a word ("amox").
    if word[0].isdigit():
        return word in words
    return any(w.startswith(word) for w in words)


@cache
def _search_words() -> tuple[list[str], ...]:
    return tuple(_words(m.label) for m in catalogue())


def medication(cip13: str) -> Medication | None:
    """The presentation of that CIP13, or None when the catalogue has none."""
    return _by_cip13().get(cip13.strip())


def search(text: str, limit: int = 50) -> list[Medication]:
    """Presentations whose name has every word of `text` (case and accents ignored; a
    word may be the start of a name's word, a number must be whole), those whose
    molecule starts with the first word first. Digits alone find a CIP13 by its start."""
    words = _words(text)
    if not words:
        return []
    if len(words) == 1 and len(words[0]) > 4 and words[0].isdigit():
        return [m for m in catalogue() if m.cip13.startswith(words[0])][:limit]
    found = [
        m
        for m, own in zip(catalogue(), _search_words(), strict=True)
        if all(_matches(w, own) for w in words)
    ]
    found.sort(key=lambda m: not _words(m.molecule)[0].startswith(words[0]))
    return found[:limit]
