"""The amounts of a care sheet: a table of the known cases, and properties that always hold."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bsp_tui.domain.patients import is_nia
from bsp_tui.platform.population import generate
from connectors.fse.models import (
    AMOUNT_FIELDS,
    CATALOGUE,
    CENT,
    EXEMPTIONS,
    FRANCHISE_DAILY_CAP,
    FRANCHISE_YEARLY_CAP,
    PF_DAILY_CAP,
    PF_YEARLY_CAP,
    ZERO,
    Used,
    build_sheet,
    compute,
    new_number,
    number_problem,
    sheet_of,
)
from tests.connectors.fse.conftest import rights

DAY = "2025-06-15"
ADULT, CHILD_4, CHILD_10, TEEN_17 = "1970-01-01", "2021-01-01", "2015-01-01", "2008-01-01"
NONE = Used()
PF_49, PF_50 = Used(pf_year=Decimal(49)), Used(pf_year=Decimal(50))
PF_TODAY_4 = Used(pf_year=Decimal(4), pf_day=Decimal(4))
FRANCHISE_50 = Used(franchise_year=Decimal(50))

# The sources are named in docs/emulation.md (FSE, "The amounts, case by case"), which
# shows this same table. Case: acts, birthdate, rights changes, tiers payant, already
# used, ALD flags → base, AMO, CSS, participation forfaitaire, franchise, patient share,
# paid now, deferred (recovered later from the patient).
CASES = {
    "G, coordinated pathway (ameli: €19)": (
        ["G"],
        ADULT,
        {},
        False,
        NONE,
        (),
        "30.00 19.00 0.00 2.00 0.00 11.00 30.00 0.00",
    ),
    "G with tiers payant: the AMO pays €21, the €2 PF is deferred": (
        ["G"],
        ADULT,
        {},
        True,
        NONE,
        (),
        "30.00 21.00 0.00 2.00 0.00 9.00 9.00 2.00",
    ),
    "GS like G": (
        ["GS"],
        ADULT,
        {},
        False,
        NONE,
        (),
        "30.00 19.00 0.00 2.00 0.00 11.00 30.00 0.00",
    ),
    "G out of the pathway: 30 %": (
        ["G"],
        ADULT,
        {"coordinated": False},
        False,
        NONE,
        (),
        "30.00 7.00 0.00 2.00 0.00 23.00 30.00 0.00",
    ),
    "G under 6: €35, no PF for a minor": (
        ["G"],
        CHILD_4,
        {},
        False,
        NONE,
        (),
        "35.00 24.50 0.00 0.00 0.00 10.50 35.00 0.00",
    ),
    "G at 10 out of the pathway: under 16, no penalty": (
        ["G"],
        CHILD_10,
        {"coordinated": False},
        False,
        NONE,
        (),
        "30.00 21.00 0.00 0.00 0.00 9.00 30.00 0.00",
    ),
    "G at 17 out of the pathway: penalty, but no PF": (
        ["G"],
        TEEN_17,
        {"coordinated": False},
        False,
        NONE,
        (),
        "30.00 9.00 0.00 0.00 0.00 21.00 30.00 0.00",
    ),
    "ALD, act related: 100 %, PF deferred under tiers payant": (
        ["G"],
        ADULT,
        {"exemption": "ALD"},
        True,
        NONE,
        (True,),
        "30.00 30.00 0.00 2.00 0.00 0.00 0.00 2.00",
    ),
    "ALD, act unrelated: 70 % like anyone": (
        ["G"],
        ADULT,
        {"exemption": "ALD"},
        True,
        NONE,
        (False,),
        "30.00 21.00 0.00 2.00 0.00 9.00 9.00 2.00",
    ),
    "CSS: AMO 70 %, the CSS pays the ticket modérateur, no PF": (
        ["G"],
        ADULT,
        {"exemption": "CSS"},
        True,
        NONE,
        (),
        "30.00 21.00 9.00 0.00 0.00 0.00 0.00 0.00",
    ),
    "AME: 100 %, no PF": (
        ["G"],
        ADULT,
        {"exemption": "AME"},
        True,
        NONE,
        (),
        "30.00 30.00 0.00 0.00 0.00 0.00 0.00 0.00",
    ),
    "maternity: 100 %, no PF": (
        ["G"],
        ADULT,
        {"exemption": "MATERNITE"},
        True,
        NONE,
        (),
        "30.00 30.00 0.00 0.00 0.00 0.00 0.00 0.00",
    ),
    "yearly cap reached: no PF": (
        ["G"],
        ADULT,
        {},
        False,
        PF_50,
        (),
        "30.00 21.00 0.00 0.00 0.00 9.00 30.00 0.00",
    ),
    "one euro left under the yearly cap": (
        ["G"],
        ADULT,
        {},
        False,
        PF_49,
        (),
        "30.00 20.00 0.00 1.00 0.00 10.00 30.00 0.00",
    ),
    "two acts with one euro left: the cap spans the sheet": (
        ["G", "G"],
        ADULT,
        {},
        False,
        PF_49,
        (),
        "60.00 41.00 0.00 1.00 0.00 19.00 60.00 0.00",
    ),
    "daily cap reached (€4 already today): no PF": (
        ["G"],
        ADULT,
        {},
        False,
        PF_TODAY_4,
        (),
        "30.00 21.00 0.00 0.00 0.00 9.00 30.00 0.00",
    ),
    "three acts in a day: €4 of PF, not €6": (
        ["G", "APC", "G"],
        ADULT,
        {},
        False,
        NONE,
        (),
        "120.00 80.00 0.00 4.00 0.00 40.00 120.00 0.00",
    ),
    "home visit: VG €30 and its MD €10 on their own line, PF on VG only": (
        ["VG", "MD"],
        ADULT,
        {},
        False,
        NONE,
        (),
        "40.00 26.00 0.00 2.00 0.00 14.00 40.00 0.00",
    ),
    "AMI1 + IFD €2.75: 60 %, €1 franchise on the AMI, none on the IFD": (
        ["AMI1", "IFD"],
        ADULT,
        {},
        False,
        NONE,
        (),
        "5.90 2.54 0.00 0.00 1.00 3.36 5.90 0.00",
    ),
    "AMI1 + IFD with tiers payant: the franchise is deferred": (
        ["AMI1", "IFD"],
        ADULT,
        {},
        True,
        NONE,
        (),
        "5.90 3.54 0.00 0.00 1.00 2.36 2.36 1.00",
    ),
    "paramedical out of the pathway: still 60 %": (
        ["AIS3"],
        ADULT,
        {"coordinated": False},
        False,
        NONE,
        (),
        "7.95 3.77 0.00 0.00 1.00 4.18 7.95 0.00",
    ),
    "paramedical in ALD, related: 100 %, the franchise still due": (
        ["AMI2", "IFD"],
        ADULT,
        {"exemption": "ALD"},
        True,
        NONE,
        (True, True),
        "9.05 9.05 0.00 0.00 1.00 0.00 0.00 1.00",
    ),
    "franchise: none under 18": (
        ["AMI1"],
        TEEN_17,
        {},
        False,
        NONE,
        (),
        "3.15 1.89 0.00 0.00 0.00 1.26 3.15 0.00",
    ),
    "franchise: none with CSS, the CSS pays the 40 %": (
        ["AMI1"],
        ADULT,
        {"exemption": "CSS"},
        True,
        NONE,
        (),
        "3.15 1.89 1.26 0.00 0.00 0.00 0.00 0.00",
    ),
    "franchise: yearly cap reached": (
        ["AMI1"],
        ADULT,
        {},
        False,
        FRANCHISE_50,
        (),
        "3.15 1.89 0.00 0.00 0.00 1.26 3.15 0.00",
    ),
    "franchise: €4 a day at most": (
        ["AMI1"] * 5,
        ADULT,
        {},
        False,
        NONE,
        (),
        "15.75 5.45 0.00 0.00 4.00 10.30 15.75 0.00",
    ),
}


@pytest.mark.parametrize(
    ("acts", "birthdate", "changes", "tiers_payant", "used", "ald", "expected"),
    list(CASES.values()),
    ids=list(CASES),
)
def test_amounts(
    acts: list[str],
    birthdate: str,
    changes: dict,
    tiers_payant: bool,
    used: Used,
    ald: tuple[bool, ...],
    expected: str,
) -> None:
    amounts = compute(acts, rights(birthdate, **changes), DAY, tiers_payant, used, ald)
    got = amounts.as_json()
    assert [got[name] for name in AMOUNT_FIELDS] == expected.split()
    assert len(amounts.lines) == len(acts)
    assert amounts.amo + amounts.complementary + amounts.patient == amounts.base


def test_the_amounts_table_is_the_one_in_the_docs() -> None:
    docs = Path(__file__).resolve().parents[3] / "docs" / "emulation.md"
    text = docs.read_text(encoding="utf-8")
    for case, (*_, expected) in CASES.items():
        row = "| " + case + " | " + " | ".join(expected.split()) + " |"
        assert row in text, case


def test_the_sixth_birthday_ends_the_child_tariff() -> None:
    assert compute(["G"], rights("2019-06-15"), DAY, False).base == Decimal("30.00")
    assert compute(["G"], rights("2019-06-16"), DAY, False).base == Decimal("35.00")


money = st.integers(min_value=0, max_value=5000).map(lambda cents: Decimal(cents) / 100)


@settings(max_examples=300, deadline=None)
@given(
    acts=st.lists(st.sampled_from(sorted(CATALOGUE)), min_size=1, max_size=8),
    birthyear=st.integers(min_value=1930, max_value=2025),
    exemption=st.sampled_from(["", *EXEMPTIONS]),
    coordinated=st.booleans(),
    tiers_payant=st.booleans(),
    used=money,
    today=money,
    ald=st.lists(st.booleans(), max_size=8),
)
def test_amounts_always_add_up_to_the_cent(
    acts: list[str],
    birthyear: int,
    exemption: str,
    coordinated: bool,
    tiers_payant: bool,
    used: Decimal,
    today: Decimal,
    ald: list[bool],
) -> None:
    patient = rights(f"{birthyear}-03-01", exemption=exemption, coordinated=coordinated)
    taken = Used(used, today, used, today)
    a = compute(acts, patient, DAY, tiers_payant, taken, tuple(ald))
    assert a.amo + a.complementary + a.patient == a.base
    for value in a.as_decimals():
        assert value >= ZERO
        assert value == value.quantize(CENT)
    assert a.pf <= max(min(PF_YEARLY_CAP - used, PF_DAILY_CAP - today), ZERO)
    assert a.franchise <= max(min(FRANCHISE_YEARLY_CAP - used, FRANCHISE_DAILY_CAP - today), ZERO)
    assert a.due_now == (a.patient if tiers_payant else a.base)
    # Tiers payant changes who pays when, not what the patient bears in the end.
    other = compute(acts, patient, DAY, not tiers_payant, taken, tuple(ald))
    assert a.patient + a.deferred == other.patient + other.deferred


@settings(max_examples=60, deadline=None)
@given(
    sheets=st.lists(
        st.lists(st.sampled_from(["G", "APC", "VG"]), min_size=1, max_size=4),
        min_size=1,
        max_size=30,
    )
)
def test_the_participation_never_exceeds_the_cap_over_a_year(sheets: list[list[str]]) -> None:
    used = ZERO
    for day, acts in enumerate(sheets, start=1):
        # One sheet a day: only the yearly cap binds across them.
        used += compute(acts, rights(), f"2025-01-{day:02}", False, Used(used)).pf
    assert used <= PF_YEARLY_CAP
    per_day = (min(Decimal(2) * len(acts), PF_DAILY_CAP) for acts in sheets)
    assert used == min(PF_YEARLY_CAP, sum(per_day, ZERO))


def test_numbers_and_fingerprints() -> None:
    number = new_number(DAY)
    assert number.startswith("FSE-20250615-") and number_problem(number) is None
    assert number_problem("FSE-2025-XYZ") is not None
    assert number_problem(number.replace(number[-1], "I")) is not None  # not Crockford's
    sheet = build_sheet(rights(), ["G"], DAY, False, False, number=number)
    again = sheet_of(sheet.content())
    assert again == sheet
    assert again.fingerprint() == sheet.fingerprint()
    changed = build_sheet(rights(), ["G", "G"], DAY, False, False, number=number)
    assert changed.fingerprint() != sheet.fingerprint()


def test_the_population_has_ame_holders_without_a_vitale_card() -> None:
    population = generate()
    assert population.admissions == generate().admissions
    holders = {ins for _, ins in population.admissions}
    assert len(holders) >= 10
    # No Vitale card for them, and AME has nothing to do with a NIA.
    carried = {c.ins for c in population.cards}
    assert not holders & carried
    assert all(c.exemption != "AME" for c in population.cards)
    assert any(not is_nia(ins) for ins in holders)
    assert any(is_nia(c.ins) for c in population.cards)
    ouedraogo = next(p.ins for p in population.people if p.family == "OUEDRAOGO")
    assert ouedraogo in holders
