"""Property tests of the INS matricule key (NIR and NIA) and of name normalisation."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import example, given
from hypothesis import strategies as st

from bsp_tui.domain.patients import (
    OID_NIA,
    OID_NIR_TEST,
    Traits,
    ins_key,
    ins_problem,
    is_nia,
    normalise_name,
    oid_of,
)

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


@st.composite
def bodies(draw: st.DrawFn, first: str = "1278") -> str:
    """A 13-character NIR/NIA body: sex, year, month, département (2A/2B too), commune, order."""
    sex = draw(st.sampled_from(first))
    year = f"{draw(st.integers(0, 99)):02d}"
    month = draw(st.sampled_from([f"{m:02d}" for m in [*range(1, 13), *range(20, 100)]]))
    department = draw(
        st.one_of(st.sampled_from(["2A", "2B"]), st.integers(0, 99).map("{:02d}".format))
    )
    rest = f"{draw(st.integers(0, 999_999)):06d}"
    return sex + year + month + department + rest


def test_the_worked_example_of_the_domain_reference() -> None:
    assert ins_key("2061275111005") == "64"
    assert ins_problem("206127511100564") is None


@given(bodies())
@example("2061275111005")
@example("180052B033073")
@example("112012A004389")
def test_any_body_with_its_key_is_a_valid_ins(body: str) -> None:
    key = ins_key(body)
    assert re.fullmatch(r"\d{2}", key)
    assert 1 <= int(key) <= 97
    assert ins_problem(body + key) is None


@given(bodies(), st.sampled_from(["2A", "2B"]))
def test_corsica_counts_as_19_and_18(body: str, corsica: str) -> None:
    body = body[:5] + corsica + body[7:]
    numeric = body[:5] + {"2A": "19", "2B": "18"}[corsica] + body[7:]
    assert ins_key(body) == ins_key(numeric)
    assert ins_key(body) == f"{97 - int(numeric) % 97:02d}"
    # The letters matter: 2A and 2B bodies never share a key.
    other = body[:6] + ("B" if corsica == "2A" else "A") + body[7:]
    assert ins_key(other) != ins_key(body)


@given(bodies(), st.integers(0, 14), st.sampled_from("0123456789AB"))
def test_any_single_character_change_is_refused(body: str, position: int, new: str) -> None:
    valid = body + ins_key(body)
    if valid[position] == new:
        new = "0" if new != "0" else "1"
    changed = valid[:position] + new + valid[position + 1 :]
    assert ins_problem(changed) is not None


@given(bodies(), st.integers(1, 97))
def test_any_other_key_is_refused(body: str, key: int) -> None:
    if f"{key:02d}" == ins_key(body):
        key = key % 97 + 1
    assert ins_problem(f"{body}{key:02d}") is not None


@given(bodies(first="78"))
def test_a_nia_starts_with_7_or_8_and_has_its_own_oid(body: str) -> None:
    ins = body + ins_key(body)
    assert ins_problem(ins) is None
    assert is_nia(ins)
    assert oid_of(ins) == OID_NIA


@given(bodies(first="12"))
def test_a_nir_is_not_a_nia(body: str) -> None:
    ins = body + ins_key(body)
    assert not is_nia(ins)
    assert oid_of(ins) == OID_NIR_TEST


@given(bodies(first="0345699"))
def test_other_first_digits_are_refused_even_with_the_right_key(body: str) -> None:
    assert ins_problem(body + ins_key(body)) is not None


@given(st.text(max_size=40))
def test_lengths_other_than_15_are_refused(value: str) -> None:
    if len(value) != 15:
        assert ins_problem(value) is not None


# -- names ------------------------------------------------------------------------------

LATIN = "".join(
    chr(c)
    for c in [*range(0x41, 0x5B), *range(0x61, 0x7B), *range(0xC0, 0x180)]
    if chr(c) not in "×÷"
)
latin_names = st.text(alphabet=LATIN + " -'’‘", max_size=30)
COMBINING = [chr(c) for c in range(0x300, 0x370) if unicodedata.combining(chr(c))]


@given(st.text(max_size=30))
@example("ǰ")
@example("ŉ")
@example("ᵃ")
def test_normalisation_is_idempotent(value: str) -> None:
    once = normalise_name(value)
    assert normalise_name(once) == once


@given(latin_names)
@example("Łukasz Ørsted-Þór")
@example("Œdipe Ĳssel ŀl")
def test_latin_names_normalise_to_capitals_space_hyphen_apostrophe(value: str) -> None:
    assert re.fullmatch(r"[A-Z' -]*", normalise_name(value))


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str]:
    """A plain name, and the same name with accents, other case and typographic apostrophes."""
    base = draw(
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz '-", max_size=25)
    )
    out = []
    for char in base:
        if char == "'":
            out.append(draw(st.sampled_from(["'", "’", "‘"])))
            continue
        if draw(st.booleans()):
            char = char.swapcase()
        out.append(char)
        if char.isalpha():
            out.extend(draw(st.lists(st.sampled_from(COMBINING), max_size=2)))
    variant = "".join(out)
    if draw(st.booleans()):
        variant = unicodedata.normalize("NFC", variant)
    return base, variant


@given(disguised())
@example(("Lefevre", "LEFÈVRE"))
@example(("N'Diaye", "n’diaye"))
def test_accents_case_and_typographic_apostrophes_do_not_change_a_name(
    pair: tuple[str, str],
) -> None:
    base, variant = pair
    assert normalise_name(variant) == normalise_name(base)


def test_runs_of_spaces_collapse_and_ends_are_trimmed() -> None:
    assert normalise_name("  jean \t  pierre\n") == "JEAN PIERRE"
    assert normalise_name("Œdipe Ærø Straße") == "OEDIPE AERO STRASSE"


def test_traits_name_the_first_bad_field() -> None:
    good = Traits("Martin", "Jean", "M", "1980-05-12")
    assert good.problem() is None
    assert Traits("Martin", "Jean", "X", "1980-05-12").problem()[0] == "sex"
    assert Traits("M4rtin", "Jean", "M", "1980-05-12").problem()[0] == "family"
    assert Traits("Martin", "", "M", "1980-05-12").problem()[0] == "given"
    assert Traits("Martin", "Jean", "M", "12/05/1980").problem()[0] == "birthdate"
    assert Traits("Martin", "Jean", "M", "2999-01-01").problem()[0] == "birthdate"
    assert Traits("Martin", "Jean", "M", "1980-05-12", "7511").problem()[0] == "birthplace"
    assert Traits("Martin", "Jean", "m", "1980-05-12", "2b033").problem() is None
    assert Traits("", "", "", "", "").problem(partial=True) is None
    assert Traits("", "", "", "1980-02-30").problem(partial=True)[0] == "birthdate"
