"""The demo directory of professionals, and the PSC claim shapes built from it.

Names, organisations and RPPS numbers are synthetic. PINs and device seeds are not
here: each platform draws its own on first start (see `ecps.seed_personas`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bsp_tui.domain.identifiers import luhn_check_digit
from bsp_tui.domain.professions import (
    EMERGENCY_MEDICINE,
    GENERAL_MEDICINE,
    INFIRMIER,
    MEDECIN,
    PHARMACIEN,
    SECRETAIRE,
    label,
)

PROFESSION_OID = "1.2.250.1.213.1.1.5.5"
RPPS_OID = "1.2.250.1.71.4.2.1"
# Sector of activity (TRE_R02) and the authentication level, as the agency's PSC
# userinfo samples write them: `CODE^OID`.
SECTOR_OID = "1.2.250.1.71.4.2.4"
AUTHENTICATION_LEVEL = "APPPRIP3^1.2.250.1.213.1.5.1.1.1"


@dataclass(frozen=True)
class Persona:
    """A demo professional as the national directory knows them."""

    name: str
    civility: str
    exercise_civility: str
    given: str
    family: str
    profession_code: str
    profession_label: str
    savoir_faire: str
    savoir_faire_label: str
    organisation: str
    organisation_id: str
    exercise_mode: str
    sector: str
    postal_code: str
    rpps_base: str

    @property
    def rpps(self) -> str:
        """The 11-digit RPPS number, Luhn key included."""
        return self.rpps_base + luhn_check_digit(self.rpps_base)

    @property
    def national_id(self) -> str:
        """IdNat_PS: 8 followed by the RPPS."""
        return "8" + self.rpps

    @property
    def display_name(self) -> str:
        """How the launcher names them."""
        return f"{self.given} {self.family}"

    def profile(self) -> dict:
        """The stored form of this persona (everything but secrets)."""
        return asdict(self)


# `SECR` is not in the national profession nomenclature: the emulation gives medical
# secretaries an e-CPS so that a sign-in without clinical access can be shown.
PERSONAS: tuple[Persona, ...] = (
    Persona(
        "generaliste",
        "MME",
        "DR",
        "Élise",
        "Martin-Dubois",
        MEDECIN,
        label(MEDECIN),
        GENERAL_MEDICINE,
        "Médecine générale",
        "Cabinet médical des Tilleuls",
        "750123456",
        "L",
        "SA07",
        "75011",
        "1000001230",
    ),
    Persona(
        "urgentiste",
        "M",
        "DR",
        "Karim",
        "Benali",
        MEDECIN,
        label(MEDECIN),
        EMERGENCY_MEDICINE,
        "Médecine d'urgence",
        "Centre hospitalier de Créteil",
        "940110018",
        "S",
        "SA01",
        "94000",
        "1000004560",
    ),
    Persona(
        "pharmacien",
        "M",
        "M",
        "Hugo",
        "Lefèvre",
        PHARMACIEN,
        label(PHARMACIEN),
        "",
        "",
        "Pharmacie de l'Hôtel de Ville",
        "690789012",
        "L",
        "SA33",
        "69001",
        "1000007890",
    ),
    Persona(
        "infirmier",
        "MME",
        "MME",
        "Amandine",
        "N'Diaye",
        INFIRMIER,
        label(INFIRMIER),
        "",
        "",
        "Cabinet infirmier du Vieux-Port",
        "130456789",
        "L",
        "SA07",
        "13002",
        "1000002340",
    ),
    Persona(
        "secretaire",
        "MME",
        "MME",
        "Chloé",
        "Moreau",
        SECRETAIRE,
        label(SECRETAIRE),
        "",
        "",
        "Cabinet médical des Tilleuls",
        "750123456",
        "S",
        "SA07",
        "75011",
        "1000005670",
    ),
)


def other_ids(national_id: str) -> list[dict]:
    """`otherIds` as PSC writes it: the national id, leading 8 included, from the RPPS."""
    return [{"identifiant": national_id, "origine": "RPPS", "qualite": 1}]


def userinfo_claims(profile: dict, national_id: str, sub: str) -> dict:
    """The PSC userinfo document for a professional, in the agency's samples' shapes."""
    exercise = {
        "codeProfession": profile["profession_code"],
        "codeCategorieProfessionnelle": "C",
        "codeCiviliteDexercice": profile["exercise_civility"],
        "nomDexercice": profile["family"],
        "prenomDexercice": profile["given"],
        "codeTypeSavoirFaire": "S" if profile["savoir_faire"] else "",
        "codeSavoirFaire": profile["savoir_faire"],
        "activities": [
            {
                "codeModeExercice": profile["exercise_mode"],
                "codeSecteurDactivite": profile["sector"],
                "codeSectionPharmacien": "",
                "codeRole": "",
                "numeroSiretSite": "",
                "numeroSirenSite": "",
                "numeroFinessSite": profile["organisation_id"],
                "numeroFinessetablissementJuridique": "",
                "identifiantTechniqueDeLaStructure": "R" + profile["organisation_id"],
                "raisonSocialeSite": profile["organisation"],
                "enseigneCommercialeSite": "",
                "codePostal": profile["postal_code"],
                "codeCommune": "",
                "codePays": "99000",
            }
        ],
    }
    return {
        "sub": sub,
        "SubjectNameID": national_id,
        "preferred_username": national_id,
        "given_name": profile["given"],
        "family_name": profile["family"],
        "SubjectOrganization": profile["organisation"],
        "SubjectOrganizationID": profile["organisation_id"],
        "SubjectRole": [f"{profile['profession_code']}^{PROFESSION_OID}"],
        "SubjectRefPro": {"codeCivilite": profile["civility"], "exercices": [exercise]},
        "otherIds": other_ids(national_id),
        "Secteur_Activite": f"{profile['sector']}^{SECTOR_OID}",
        "Palier_Authentification": AUTHENTICATION_LEVEL,
        # « VRAI » only for the regulating doctors of a centre 15 (médecine d'urgence).
        "Acces_Regulation_Medicale": (
            "VRAI" if profile["savoir_faire"] == EMERGENCY_MEDICINE else "FAUX"
        ),
        "Mode_Acces_Raison": "",
        "email_verified": False,
    }
