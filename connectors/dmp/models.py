"""DMP domain: document types, access modes, the access matrix, and what the client returns.

Shared by the client (which checks input before any request) and the emulated DMP
(which enforces the matrix). The matrix follows the habilitation matrix of the arrêté of
26 October 2023 for the categories the emulated types fall in, as docs/emulation.md
writes it with its source (a row the arrêté's public summaries do not give is marked
there as the emulation's own).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from bsp_tui.domain.professions import EMERGENCY_MEDICINE, INFIRMIER, MEDECIN, PHARMACIEN

# Document types the emulated DMP knows, by LOINC code (the seeded population uses them).
DOCUMENT_TYPES: dict[str, str] = {
    "11488-4": "Compte rendu de consultation",
    "60591-5": "Volet de synthèse médicale",
    "11502-2": "Compte rendu d'examens biologiques",
    "18748-4": "Compte rendu d'imagerie médicale",
    "34133-9": "Synthèse d'épisode de soins",
    "57833-6": "Prescription de médicaments",
    "11490-0": "Lettre de sortie",
}
CONSULTATION_REPORT = "11488-4"
# The class of each type (DocumentReference.category), from TRE_A03-ClasseDocument as the
# DMP's value set JDV_J57-ClassCode-DMP gives it (10 compte rendu, 11 synthèse, 31
# imagerie médicale, 42 prescription).
CLASS_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
CLASS_LABELS = {
    "10": "Compte rendu",
    "11": "Synthèse",
    "31": "Imagerie médicale",
    "42": "Prescription",
}
CLASSES: dict[str, str] = {
    "11488-4": "10",
    "60591-5": "11",
    "11502-2": "10",
    "18748-4": "31",
    "34133-9": "10",
    "57833-6": "42",
    "11490-0": "10",
}
# The attachment's format (IHE formatcode): the MIME type says all there is to know.
FORMAT_SYSTEM = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"
FORMAT_CODE = "urn:ihe:iti:xds:2017:mimeTypeSufficient"
# Where each type of document is made (DocumentReference.context), as the PDSm profile asks:
# the sector of activity from TRE_R02-SecteurActivite (`facilityType`) and the practice
# setting from TRE_A01-CadreExercice (`practiceSetting`), the nomenclatures the profile names
# for a professional author. Hospital stays come from a hospital, the rest from a practice
# (the emulation's own assignment).
FACILITY_SYSTEM = (
    "https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite"
)
SETTING_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice"
PRACTICE = (("SA07", "Cabinet individuel"), ("AMBULATOIRE", "Ambulatoire"))
HOSPITAL = (("SA01", "Etablissement public de santé"), ("ETABLISSEMENT", "Etablissement de santé"))
HOSPITAL_TYPES = frozenset({"34133-9", "11490-0"})


def made_in(loinc: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """The (facility type, practice setting) codes and labels of a type of document."""
    return HOSPITAL if loinc in HOSPITAL_TYPES else PRACTICE


# The data category of the arrêté of 26 Oct 2023's habilitation matrix each type is in.
CATEGORIES: dict[str, str] = {
    "11488-4": "comptes rendus de consultation",
    "60591-5": "synthèses",
    "11502-2": "biologie",
    "18748-4": "imagerie",
    "34133-9": "séjours hospitaliers",
    "57833-6": "prescriptions",
    "11490-0": "séjours hospitaliers",
}

LOINC_SYSTEM = "http://loinc.org"
PATIENT_ID_SYSTEM_PREFIX = "urn:oid:"
AUTHOR_ID_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"  # national id of a professional (IdNat_PS)
STRUCTURE_ID_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"  # national id of a structure (IdNat_Struct)
ORGANIZATION = "Organization"  # an author that is a structure, not a professional
PROFESSION_SYSTEM = "urn:oid:1.2.250.1.213.1.1.5.5"
CONFIDENTIALITY_SYSTEM = "urn:oid:1.2.250.1.213.1.1.4.13"  # the DMP's visibility codes
MASQUE_PS = "MASQUE_PS"
INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
INVISIBLE_LEGAL = "INVISIBLE_REPRESENTANTS_LEGAUX"  # a minor's legal representatives
SECURITY_LABELS = {
    MASQUE_PS: "Masqué aux professionnels de santé",
    INVISIBLE_PATIENT: "Non visible par le patient",
    INVISIBLE_LEGAL: "Non visible par les représentants légaux du patient",
}
# The same codes under their nomenclature's URL (TRE_A07, the PDSm guide's JSON Patches),
# and the normal confidentiality a document without any of them carries (HL7 v3).
VISIBILITY_SYSTEM = (
    "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/"
    "TRE-A07-StatutVisibiliteDocument"
)
NORMAL_CONFIDENTIALITY = "N"
V3_CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
# PDSm_isArchived: an archived document (XDS Deprecated), its status unchanged.
ARCHIVED_EXTENSION = (
    "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived"
)
# A JSON Patch names the isArchived extension by its URL (the PDSm guide's TD3.3d path).
ARCHIVED_PATH = f"/extension[url:'{ARCHIVED_EXTENSION}']/valueBoolean"
JSON_PATCH = "application/json-patch+json"
MAJORITY = 18  # below this age, the patient's legal representatives act for them

# The updates of a document's metadata (JSON Patch), by the name the client, the CLI and the
# history give them: what each changes, in French.
UPDATES: dict[str, str] = {
    "mask": "masqué aux professionnels",
    "unmask": "démasqué aux professionnels",
    "hide_patient": "rendu invisible au patient",
    "show_patient": "rendu visible au patient",
    "hide_legal": "rendu invisible aux représentants légaux",
    "show_legal": "rendu visible aux représentants légaux",
    "archive": "archivé",
    "unarchive": "désarchivé",
    "delete": "supprimé",
}
# The label each visibility update sets (hide) or clears (show).
UPDATE_LABELS = {
    "mask": (MASQUE_PS, True),
    "unmask": (MASQUE_PS, False),
    "hide_patient": (INVISIBLE_PATIENT, True),
    "show_patient": (INVISIBLE_PATIENT, False),
    "hide_legal": (INVISIBLE_LEGAL, True),
    "show_legal": (INVISIBLE_LEGAL, False),
}

# Access modes, as the CLI and the service's `mode` parameter spell them.
NORMAL = "normal"
BRIS_DE_GLACE = "bris_de_glace"
CENTRE_15 = "centre_15"
MODES = (NORMAL, BRIS_DE_GLACE, CENTRE_15)
MODE_LABELS = {NORMAL: "normal", BRIS_DE_GLACE: "bris de glace", CENTRE_15: "centre 15"}


# The access matrix: the document types each profession may read and add.
# Professions not listed (the secrétaire médicale, `SECR`, among them) get nothing.
# Pharmacists, by the arrêté: biology, imaging, hospital stays and every prescription
# (telemedicine, vaccinations, the ALD protocol and reimbursement data too, which the
# emulated DMP holds no document of).
PHARMACIST_CATEGORIES = frozenset({"biologie", "imagerie", "séjours hospitaliers", "prescriptions"})
READABLE_TYPES: dict[str, frozenset[str]] = {
    MEDECIN: frozenset(DOCUMENT_TYPES),
    PHARMACIEN: frozenset(t for t, c in CATEGORIES.items() if c in PHARMACIST_CATEGORIES),
    INFIRMIER: frozenset(DOCUMENT_TYPES) - {"18748-4"},
}
# Who may use each mode other than `normal`: profession codes, and a savoir-faire if any.
BREAK_GLASS_PROFESSIONS = frozenset({MEDECIN, INFIRMIER})
CENTRE_15_PROFESSION = MEDECIN
CENTRE_15_SAVOIR_FAIRE = EMERGENCY_MEDICINE  # the regulating doctors

MAX_CONTENT_BYTES = 1024 * 1024  # the emulation's upload limit: 1 MiB of document content
# The whole request body may carry 1 MiB of content in base64, plus the resource around it.
MAX_BODY_BYTES = MAX_CONTENT_BYTES * 4 // 3 + 64 * 1024
MAX_REASON_CHARS = 500
# A submission set (ITI-65) is a List coded so (IHE MHD); the documents of one submission
# share the body's limit, and are at most MAX_SUBMISSION_DOCUMENTS (the emulation's own).
MHD_LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
SUBMISSION_SET = "submissionset"
MAX_SUBMISSION_DOCUMENTS = 20
# A list answers in pages (FHIR `_count`): the emulation's own sizes, the DMP guide fixes none.
PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_TITLE_CHARS = 200

# Content types a document may carry (the emulation's own list).
CONTENT_TYPES = frozenset(
    {
        "text/plain",
        "text/html",
        "text/xml",
        "application/xml",
        "application/pdf",
        "image/jpeg",
        "image/png",
    }
)


def readable_types(profession_code: str) -> frozenset[str]:
    """The LOINC types a profession may read (and add); empty: no access to the DMP."""
    return READABLE_TYPES.get(profession_code, frozenset())


def mode_problem(mode: str, reason: str | None) -> str | None:
    """Why this mode and reason cannot be sent, in French, or None (a client-side check)."""
    if mode not in MODES:
        return f"mode d'accès inconnu « {mode} » : {', '.join(MODES)}"
    if mode == BRIS_DE_GLACE and not (reason or "").strip():
        return "le bris de glace exige un motif (--reason), tracé et visible du patient"
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        return f"le motif dépasse {MAX_REASON_CHARS} caractères"
    return None


def loinc_problem(code: str) -> str | None:
    """Why `code` is not a document type of the DMP, in French, or None."""
    if code in DOCUMENT_TYPES:
        return None
    known = ", ".join(f"{c} ({label})" for c, label in DOCUMENT_TYPES.items())
    return f"type de document inconnu « {code} » ; types connus : {known}"


@dataclass(frozen=True)
class DocumentInfo:
    """A document's metadata, as a DocumentReference carries it."""

    id: str
    ins: str
    loinc: str
    type_label: str
    title: str
    date: str
    author_id: str
    author_name: str
    content_type: str
    size: int
    status: str = "current"
    labels: tuple[str, ...] = ()
    archived: bool = False

    @property
    def masked(self) -> bool:
        """Hidden from professionals (shown only in an emergency mode or to its author)."""
        return MASQUE_PS in self.labels

    @property
    def invisible_to_patient(self) -> bool:
        """Not shown to the patient (professionals see it)."""
        return INVISIBLE_PATIENT in self.labels

    def as_json(self) -> dict:
        """The CLI's JSON shape (snake_case)."""
        # The instance's own dict, in field order: every value is flat, and asdict's deep
        # copy was most of the time of a 10,000-document list (a field-by-field copy 4×
        # this one's).
        return dict(self.__dict__, labels=list(self.labels))


@dataclass(frozen=True)
class Document:
    """A document's metadata and its content."""

    info: DocumentInfo
    content: bytes

    @property
    def is_text(self) -> bool:
        """True when the content is text that can be printed."""
        kind = self.info.content_type
        return kind.startswith("text/") or kind in ("application/xml",)

    def text(self) -> str:
        """The content as text (undecodable bytes replaced)."""
        return self.content.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class PatientRecord:
    """A patient's DMP as the check answers it, with what the caller may do there."""

    ins: str
    oid: str
    family: str
    given: str
    sex: str
    birthdate: str
    dmp_status: str
    mode: str
    readable_types: tuple[str, ...] = field(default_factory=tuple)
    # "autorisation d'accès": equipe_de_soins, autorisee or non_autorisee.
    access_authorization: str = ""

    def as_json(self) -> dict:
        """The CLI's JSON shape."""
        data = asdict(self)
        data["readable_types"] = list(self.readable_types)
        return data


@dataclass(frozen=True)
class AccessEntry:
    """One line of a patient's access history (an AuditEvent)."""

    id: str
    at: str
    national_id: str
    name: str
    profession: str
    mode: str
    reason: str
    action: str
    outcome: str
    document_id: str = ""
    refusal: str = ""

    @property
    def refused(self) -> bool:
        """True for an attempt the DMP refused."""
        return self.outcome != "success"

    def as_json(self) -> dict:
        """The CLI's JSON shape."""
        return asdict(self)
