"""Property tests of the CIP13 key, the prescription number's check character, the QR
payload, the line syntax and the catalogue's accent-insensitive search."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.eprescription.catalogue import CIP13_PREFIX, catalogue, medication, search
from connectors.eprescription.models import (
    ALPHABET,
    NUMBER_BODY,
    check_character,
    cip13_problem,
    ean13_check_digit,
    format_number,
    new_number,
    parse_dispense,
    parse_line,
    parse_number,
    qr_payload,
    quantity_of,
)

bodies = st.text(alphabet=ALPHABET, min_size=NUMBER_BODY, max_size=NUMBER_BODY)
digits12 = st.text(alphabet="0123456789", min_size=8, max_size=8).map(lambda d: "3400" + d)


@given(digits12)
def test_a_cip13_with_its_key_is_valid_and_any_other_key_is_not(body: str) -> None:
    key = ean13_check_digit(body)
    assert cip13_problem(body + key) is None
    for other in set("0123456789") - {key}:
        assert cip13_problem(body + other) == "la clé du CIP13 ne correspond pas"


@given(digits12, st.integers(0, 11), st.integers(1, 9))
def test_the_cip13_key_catches_any_single_digit_error(body: str, at: int, shift: int) -> None:
    code = body + ean13_check_digit(body)
    wrong = code[:at] + str((int(code[at]) + shift) % 10) + code[at + 1 :]
    assert cip13_problem(wrong) is not None


def test_the_key_of_a_known_ean13() -> None:
    assert ean13_check_digit("400638133393") == "1"  # 4006381333931, the EAN-13 example
    assert cip13_problem("1234567890128") == "un CIP13 commence par 3400"
    assert cip13_problem("34009") == "un CIP13 compte 13 chiffres"


def test_the_catalogue_is_a_few_hundred_valid_unique_codes() -> None:
    codes = [m.cip13 for m in catalogue()]
    assert 250 <= len(codes) == len(set(codes))
    assert all(cip13_problem(code) is None and code.startswith(CIP13_PREFIX) for code in codes)
    assert catalogue()[0].cip13 == "3400955000013"  # deterministic: the first stays first
    assert medication(codes[-1]) is catalogue()[-1]


@given(bodies)
def test_a_number_round_trips_typed_or_scanned(body: str) -> None:
    compact = body + check_character(body)
    printed = format_number(compact)
    assert len(printed) == 16 and printed.count("-") == 3
    for form in (compact, printed, printed.lower(), f"  {printed} ", qr_payload(compact)):
        assert parse_number(form) == compact


@given(bodies, st.integers(0, NUMBER_BODY), st.integers(1, 31))
def test_the_check_character_catches_any_single_substitution(
    body: str, at: int, shift: int
) -> None:
    compact = body + check_character(body)
    wrong = compact[:at] + ALPHABET[(ALPHABET.index(compact[at]) + shift) % 32] + compact[at + 1 :]
    with pytest.raises(ValueError, match="caractère de contrôle"):
        parse_number(wrong)


@given(bodies, st.integers(0, NUMBER_BODY - 1))
def test_the_check_character_catches_adjacent_swaps(body: str, at: int) -> None:
    compact = body + check_character(body)
    a, b = compact[at], compact[at + 1]
    # Luhn mod N misses one swap only: the first and last characters of the alphabet.
    if a == b or {a, b} == {ALPHABET[0], ALPHABET[-1]}:
        return
    swapped = compact[:at] + b + a + compact[at + 2 :]
    with pytest.raises(ValueError):
        parse_number(swapped)


def test_new_numbers_are_valid_and_distinct() -> None:
    numbers = {new_number() for _ in range(500)}
    assert len(numbers) == 500
    assert all(parse_number(n) == n for n in numbers)


def test_misread_letters_and_bad_shapes() -> None:
    body = "0O0O1I1L0000"
    compact = "000011110000"
    assert parse_number(body + check_character(compact)) == compact + check_character(compact)
    for text, words in (("", "13 caractères"), ("ABCD-EFGH-JKMN-PQ", "13 caractères")):
        with pytest.raises(ValueError, match=words):
            parse_number(text)
    with pytest.raises(ValueError, match="sans U"):
        parse_number("UUUUUUUUUUUUU")


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


@given(st.sampled_from(catalogue()), st.booleans(), st.booleans())
def test_search_ignores_accents_and_case(medication_, accents: bool, upper: bool) -> None:
    words = [*medication_.molecule.split()[:1], medication_.strength]
    text = " ".join(words)
    text = text if accents else strip_accents(text)
    text = text.upper() if upper else text.lower()
    found = search(text, limit=1000)
    assert medication_ in found
    assert found == search(strip_accents(text).lower(), limit=1000)


@given(st.text(max_size=30))
def test_search_never_fails(text: str) -> None:
    assert all(m in catalogue() for m in search(text))


def test_search_examples() -> None:
    assert [m.label for m in search("paracetamol 1 g")] == [
        "PARACÉTAMOL 1 g, comprimé, boîte de 8",
        "PARACÉTAMOL 1 g, comprimé, boîte de 16",
    ]
    assert search("IBUPROFÈNE")[0].molecule == "Ibuprofène"
    assert search("amox")[0].molecule == "Amoxicilline"  # before "… / acide clavulanique"
    assert search("3400955000013") == [catalogue()[0]]
    assert search("") == [] and search("zzz") == []


def test_lines_and_dispensing_choices() -> None:
    line = parse_line("3400955000013;1 comprimé; le soir;30j")
    assert (line.dosage, line.boxes, line.duration_days) == ("1 comprimé; le soir", None, 30)
    assert quantity_of("2") == (2, None) and quantity_of("10 jours") == (None, 10)
    assert quantity_of("1 boîte") == (1, None) and quantity_of("3 Boites") == (3, None)
    for bad in ("0", "13", "0j", "366j", "2 mois", "", "boîte", "2 boîtesj"):
        with pytest.raises(ValueError):
            quantity_of(bad)
    choice = parse_dispense("2=substituted:3400955000013")
    assert (choice.line, choice.outcome, choice.cip13) == (2, "substituted", "3400955000013")
