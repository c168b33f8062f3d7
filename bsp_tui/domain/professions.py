"""Professions of the national nomenclature, by their code, with their French labels.

The codes are those of the directory's `SubjectRole` (TRE_G15 profession codes);
`SECR` is the emulation's own code for a medical secretary, who has no RPPS
profession code.
"""

from __future__ import annotations

MEDECIN = "10"
PHARMACIEN = "21"
CHIRURGIEN_DENTISTE = "40"
SAGE_FEMME = "50"
INFIRMIER = "60"
SECRETAIRE = "SECR"

# Savoir-faire (specialty) codes of TRE_R38 used by the demo directory and the DMP.
GENERAL_MEDICINE = "SM54"  # Médecine générale
EMERGENCY_MEDICINE = "SM59"  # Médecine d'urgence (SM57 is Allergologie)

LABELS: dict[str, str] = {
    MEDECIN: "Médecin",
    PHARMACIEN: "Pharmacien",
    CHIRURGIEN_DENTISTE: "Chirurgien-dentiste",
    SAGE_FEMME: "Sage-femme",
    INFIRMIER: "Infirmier",
    SECRETAIRE: "Secrétaire médicale",
}


def label(code: str) -> str:
    """The profession's French label (the code itself when it is not in the table)."""
    return LABELS.get(code, code)
