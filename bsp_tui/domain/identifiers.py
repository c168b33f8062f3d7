"""National identifiers of health professionals: RPPS (Luhn key), ADELI, IdNat_PS."""

from __future__ import annotations

import re


def luhn_check_digit(digits: str) -> str:
    """The Luhn key to append to `digits` (a string of decimal digits)."""
    if not digits.isdigit() or not digits.isascii():
        raise ValueError("only decimal digits have a Luhn key")
    total = 0
    # Doubling starts from the rightmost digit once the key is appended.
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def is_valid_rpps(rpps: str) -> bool:
    """True for 11 ASCII digits whose last is the Luhn key of the first ten."""
    return (
        len(rpps) == 11
        and rpps.isascii()
        and rpps.isdigit()
        and luhn_check_digit(rpps[:10]) == rpps[10]
    )


# The IdNat_PS types built on a structure (the agency's PSIdNat, PDSm guide): the type
# digit, the structure's identifier, `/`, the person's identifier inside the structure —
# a structure's staff without RPPS or ADELI (a secretary, say) are known so.
STRUCTURE_TYPES: dict[str, tuple[str, str]] = {
    "1": ("identifiant de cabinet ADELI", r"[0-9]{9}"),
    "3": ("FINESS", r"[0-9]{9}|2[AB][0-9]{7}"),
    "4": ("SIREN", r"[0-9]{9}"),
    "5": ("SIRET", r"[0-9]{14}"),
    "6": ("identifiant de cabinet RPPS", r"[0-9]{11,14}"),
}
# The person's identifier inside the structure: the emulation's own bounds (the guide
# gives none): 1 to 30 visible ASCII characters, no `/`.
_INTERNAL = re.compile(r"[!-.0-~]{1,30}")
NATIONAL_ID_MAX = 1 + 14 + 1 + 30  # the longest: 5 + SIRET + / + a 30-character id


def national_id_problem(value: str) -> str | None:
    """Why `value` is not a professional's national id (IdNat_PS), or None if it is one.

    `8` + RPPS (12 characters, RPPS Luhn key checked), `0` + ADELI (10 characters), or
    a structure-based id: `1`, `3`, `4`, `5` or `6` + the structure's identifier + `/` +
    the person's identifier there (`STRUCTURE_TYPES`).
    """
    if not value:
        return "Saisissez l'identifiant national (8 + RPPS, ou 0 + ADELI)."
    if value[0] in STRUCTURE_TYPES:
        return _structure_id_problem(value)
    if not (value.isascii() and value.isdigit()):
        return "L'identifiant national ne contient que des chiffres."
    if value[0] == "8":
        if len(value) != 12:
            return "Un identifiant RPPS compte 8 suivi de 11 chiffres."
        if not is_valid_rpps(value[1:]):
            return "La clé de contrôle du numéro RPPS est fausse : vérifiez la saisie."
        return None
    if value[0] == "0":
        if len(value) != 10:
            return "Un identifiant ADELI compte 0 suivi de 9 chiffres."
        return None
    return (
        "L'identifiant national commence par 8 (RPPS), 0 (ADELI), ou 1, 3, 4, 5, 6 "
        "(structure / identifiant interne)."
    )


def _structure_id_problem(value: str) -> str | None:
    name, shape = STRUCTURE_TYPES[value[0]]
    structure, slash, internal = value[1:].partition("/")
    if not slash:
        return f"Un identifiant {value[0]} s'écrit {value[0]} + {name} + / + identifiant interne."
    if not re.fullmatch(shape, structure, flags=re.ASCII):
        return f"L'identifiant de la structure ({name}) est mal formé."
    if not _INTERNAL.fullmatch(internal):
        return "L'identifiant interne compte 1 à 30 caractères visibles, sans « / »."
    return None
