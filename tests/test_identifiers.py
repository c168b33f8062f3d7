"""Property tests of the professionals' national identifiers: RPPS Luhn key, IdNat_PS."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from bsp_tui.domain.identifiers import (
    STRUCTURE_TYPES,
    is_valid_rpps,
    luhn_check_digit,
    national_id_problem,
)

ASCII_DIGITS = "0123456789"
# Characters that `str.isdigit()` accepts but that are not ASCII digits.
LOOKALIKE_DIGITS = "٣٠١٩۵०३০৩๓０１２３４５６７８９²³¹"

digits = st.text(alphabet=ASCII_DIGITS, min_size=10, max_size=10)


def reference_luhn_valid(number: str) -> bool:
    """Luhn, written independently: from the right, double every second digit."""
    total = 0
    for index, char in enumerate(reversed(number)):
        value = int(char) * (2 if index % 2 else 1)
        total += value // 10 + value % 10
    return total % 10 == 0


# The structure-based IdNat_PS (PSIdNat): type, structure's identifier, `/`, internal id.
STRUCTURE_ID = re.compile(
    r"(1[0-9]{9}|3([0-9]{9}|2[AB][0-9]{7})|4[0-9]{9}|5[0-9]{14}|6[0-9]{11,14})/[\x21-\x2e\x30-\x7e]{1,30}"
)


def expected_valid(value: str) -> bool:
    """The oracle for `national_id_problem`: what it must accept, written another way."""
    if re.fullmatch(r"0[0-9]{9}", value, flags=re.ASCII) or STRUCTURE_ID.fullmatch(value):
        return True
    return bool(
        re.fullmatch(r"8[0-9]{11}", value, flags=re.ASCII) and reference_luhn_valid(value[1:])
    )


def rpps_of(base: str) -> str:
    return base + luhn_check_digit(base)


# -- RPPS ----------------------------------------------------------------------------------


def test_known_luhn_examples() -> None:
    assert luhn_check_digit("7992739871") == "3"  # the textbook example
    assert is_valid_rpps("79927398713")
    assert luhn_check_digit("1000001230") == "1"
    assert not is_valid_rpps("10000012300")


@given(digits)
def test_base_plus_its_key_is_a_valid_rpps(base: str) -> None:
    rpps = rpps_of(base)
    assert len(rpps) == 11
    assert is_valid_rpps(rpps)
    assert reference_luhn_valid(rpps)


@given(digits, st.integers(0, 10), st.integers(1, 9))
def test_any_single_digit_change_is_caught(base: str, position: int, shift: int) -> None:
    rpps = rpps_of(base)
    changed = str((int(rpps[position]) + shift) % 10)
    mistyped = rpps[:position] + changed + rpps[position + 1 :]
    assert mistyped != rpps
    assert not is_valid_rpps(mistyped)


@given(digits, st.integers(0, 9))
@example("0900000000", 1)
@example("9000000000", 0)
def test_adjacent_transpositions_are_caught_except_09_and_90(base: str, position: int) -> None:
    rpps = rpps_of(base)
    first, second = rpps[position], rpps[position + 1]
    assume(first != second)
    swapped = rpps[:position] + second + first + rpps[position + 2 :]
    # Luhn's one blind spot for adjacent swaps: 0 and 9 both weigh 0 and 9 doubled or not.
    assert is_valid_rpps(swapped) == ({first, second} == {"0", "9"})


@given(st.text(max_size=14))
def test_is_valid_rpps_agrees_with_the_reference(value: str) -> None:
    expected = bool(re.fullmatch(r"[0-9]{11}", value, flags=re.ASCII)) and reference_luhn_valid(
        value
    )
    assert is_valid_rpps(value) == expected


@given(st.text(alphabet=ASCII_DIGITS + LOOKALIKE_DIGITS, min_size=1, max_size=10))
def test_luhn_key_only_for_ascii_digits(value: str) -> None:
    if value.isascii():
        assert luhn_check_digit(value) in ASCII_DIGITS
    else:
        with pytest.raises(ValueError, match="decimal digits"):
            luhn_check_digit(value)


@pytest.mark.parametrize("value", ["", "12a", "１２３", "٣٣٣", " 12", "12\n"])
def test_luhn_key_refuses_non_digits(value: str) -> None:
    with pytest.raises(ValueError, match="decimal digits"):
        luhn_check_digit(value)


# -- IdNat_PS ------------------------------------------------------------------------------


@given(digits)
def test_eight_plus_a_valid_rpps_is_a_national_id(base: str) -> None:
    assert national_id_problem("8" + rpps_of(base)) is None


@given(st.text(alphabet=ASCII_DIGITS, min_size=9, max_size=9))
def test_zero_plus_nine_digits_is_a_national_id(adeli: str) -> None:
    assert national_id_problem("0" + adeli) is None


# Strings close to valid ids, with look-alike digits mixed in, and anything at all.
near_ids = st.one_of(
    st.text(),
    st.text(alphabet=ASCII_DIGITS + LOOKALIKE_DIGITS, max_size=13),
    st.builds(lambda tail: "8" + tail, st.text(alphabet=ASCII_DIGITS, max_size=12)),
    st.builds(lambda tail: "0" + tail, st.text(alphabet=ASCII_DIGITS, max_size=11)),
    st.builds(
        lambda kind, structure, slash, internal: kind + structure + slash + internal,
        st.sampled_from("13456"),
        st.text(alphabet=ASCII_DIGITS + "AB" + LOOKALIKE_DIGITS, max_size=16),
        st.sampled_from(["/", "", "//"]),
        st.text(max_size=32),
    ),
    st.builds(
        lambda base, index, char: (lambda rpps: rpps[:index] + char + rpps[index + 1 :])(
            "8" + rpps_of(base)
        ),
        digits,
        st.integers(0, 11),
        st.sampled_from(LOOKALIKE_DIGITS),
    ),
)

FRENCH_MESSAGES = {
    "Saisissez l'identifiant national (8 + RPPS, ou 0 + ADELI).",
    "L'identifiant national ne contient que des chiffres.",
    "Un identifiant RPPS compte 8 suivi de 11 chiffres.",
    "La clé de contrôle du numéro RPPS est fausse : vérifiez la saisie.",
    "Un identifiant ADELI compte 0 suivi de 9 chiffres.",
    "L'identifiant national commence par 8 (RPPS), 0 (ADELI), ou 1, 3, 4, 5, 6 "
    "(structure / identifiant interne).",
    "L'identifiant interne compte 1 à 30 caractères visibles, sans « / ».",
    *(
        message
        for kind, (name, _) in STRUCTURE_TYPES.items()
        for message in (
            f"Un identifiant {kind} s'écrit {kind} + {name} + / + identifiant interne.",
            f"L'identifiant de la structure ({name}) est mal formé.",
        )
    ),
}


@given(near_ids)
@example("")
@example("٣")
@example("8" + "٣" * 11)
@example("0" + "٣" * 9)
@example("0" + "０" * 9)
@example("８" + rpps_of("1000001230"))
@example("8" + rpps_of("1000001230") + "\n")
@example(" 8" + rpps_of("1000001230"))
@example("0" + "²" * 9)
@example("810000012300")
@example("7" + rpps_of("1000001230"))
def test_everything_else_gets_a_french_reason(value: str) -> None:
    problem = national_id_problem(value)
    if expected_valid(value):
        assert problem is None
    else:
        assert problem in FRENCH_MESSAGES


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        ("", "Saisissez"),
        ("8" + "٣" * 11, "que des chiffres"),
        ("0" + "０" * 9, "que des chiffres"),
        ("81000001230", "8 suivi de 11 chiffres"),
        ("810000012300", "clé de contrôle"),
        ("012345678", "0 suivi de 9 chiffres"),
        ("712345678903", "commence par 8 (RPPS), 0 (ADELI), ou 1, 3, 4, 5, 6"),
        ("512345678901234", "5 + SIRET + / + identifiant interne"),
        ("512345678901234/", "1 à 30 caractères"),
        ("512345678901234/A/B", "1 à 30 caractères"),
        ("5123456789012/SEC01", "structure (SIRET) est mal formé"),
        ("375000001/X", "structure (FINESS) est mal formé"),
    ],
)
def test_each_reason(value: str, phrase: str) -> None:
    assert phrase in (national_id_problem(value) or "")


@pytest.mark.parametrize(
    "value",
    [
        "1750123456/ACC-01",  # a cabinet ADELI's staff
        "3750000019/12345",  # an établissement (FINESS)
        "32A0000019/INF7",  # a Corsican FINESS
        "4123456789/x",  # SIREN
        "512345678901234/SEC01",  # SIRET: the personnel id of a structure's secretary
        "610000012301/1",  # a cabinet RPPS
        "6" + "1" * 14 + "/" + "Z" * 30,
    ],
)
def test_the_structure_based_national_ids(value: str) -> None:
    assert national_id_problem(value) is None
