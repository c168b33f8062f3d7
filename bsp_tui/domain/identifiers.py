"""National identifiers of health professionals: RPPS (Luhn key), ADELI, IdNat_PS."""

from __future__ import annotations


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


def national_id_problem(value: str) -> str | None:
    """Why `value` is not a professional's national id (IdNat_PS), or None if it is one.

    `8` + RPPS (12 characters, RPPS Luhn key checked) or `0` + ADELI (10 characters).
    """
    if not value:
        return "Saisissez l'identifiant national (8 + RPPS, ou 0 + ADELI)."
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
    return "L'identifiant national commence par 8 (RPPS) ou 0 (ADELI)."
