"""The amounts of a care sheet: a table of the known cases, and properties that always hold."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bsp_tui.domain.patients import is_nia
from bsp_tui.platform.population import generate
from connectors.fse.models import (
    CATALOGUE,
    CENT,
    EXEMPTIONS,
    PF_YEARLY_CAP,
    ZERO,
    build_sheet,
    compute,
    new_number,
    number_problem,
    sheet_of,
)
from tests.connectors.fse.conftest import rights

DAY = "2025-06-15"
ADULT, CHILD_4, CHILD_10, TEEN_17 = "1970-01-01", "2021-01-01", "2015-01-01", "2008-01-01"

# acts, birthdate, rights changes, tiers payant, PF already paid →
#   base, AMO, participation forfaitaire, patient share, paid now
CASES = {
    "G, coordinated pathway (DOMAIN.md: €19)": (
        ["G"],
        ADULT,
        {},
        False,
        "0",
        ("30.00", "19.00", "2.00", "11.00", "30.00"),
    ),
    "G with tiers payant: the patient pays the share only": (
        ["G"],
        ADULT,
        {},
        True,
        "0",
        ("30.00", "19.00", "2.00", "11.00", "11.00"),
    ),
    "GS like G": (["GS"], ADULT, {}, False, "0", ("30.00", "19.00", "2.00", "11.00", "30.00")),
    "G out of the pathway: 30 %": (
        ["G"],
        ADULT,
        {"coordinated": False},
        False,
        "0",
        ("30.00", "7.00", "2.00", "23.00", "30.00"),
    ),
    "G under 6: €35, no PF for a minor": (
        ["G"],
        CHILD_4,
        {},
        False,
        "0",
        ("35.00", "24.50", "0.00", "10.50", "35.00"),
    ),
    "G at 10 out of the pathway: under 16, no penalty": (
        ["G"],
        CHILD_10,
        {"coordinated": False},
        False,
        "0",
        ("30.00", "21.00", "0.00", "9.00", "30.00"),
    ),
    "G at 17 out of the pathway: penalty, but no PF": (
        ["G"],
        TEEN_17,
        {"coordinated": False},
        False,
        "0",
        ("30.00", "9.00", "0.00", "21.00", "30.00"),
    ),
    "ALD: 100 %, PF still due": (
        ["G"],
        ADULT,
        {"exemption": "ALD"},
        True,
        "0",
        ("30.00", "28.00", "2.00", "2.00", "2.00"),
    ),
    "CSS: 100 %, no PF": (
        ["G"],
        ADULT,
        {"exemption": "CSS"},
        True,
        "0",
        ("30.00", "30.00", "0.00", "0.00", "0.00"),
    ),
    "AME: 100 %, no PF": (
        ["G"],
        ADULT,
        {"exemption": "AME"},
        True,
        "0",
        ("30.00", "30.00", "0.00", "0.00", "0.00"),
    ),
    "maternity: 100 %, no PF": (
        ["G"],
        ADULT,
        {"exemption": "MATERNITE"},
        True,
        "0",
        ("30.00", "30.00", "0.00", "0.00", "0.00"),
    ),
    "yearly cap reached: no PF": (
        ["G"],
        ADULT,
        {},
        False,
        "50",
        ("30.00", "21.00", "0.00", "9.00", "30.00"),
    ),
    "one euro left under the cap": (
        ["G"],
        ADULT,
        {},
        False,
        "49",
        ("30.00", "20.00", "1.00", "10.00", "30.00"),
    ),
    "two acts with one euro left: the cap spans the sheet": (
        ["G", "G"],
        ADULT,
        {},
        False,
        "49",
        ("60.00", "41.00", "1.00", "19.00", "60.00"),
    ),
    "several acts: G and APC": (
        ["G", "APC"],
        ADULT,
        {},
        False,
        "0",
        ("90.00", "59.00", "4.00", "31.00", "90.00"),
    ),
    "home visit VG": (["VG"], ADULT, {}, False, "0", ("40.00", "26.00", "2.00", "14.00", "40.00")),
    "paramedical AMI1 + IFD: 60 %, no PF": (
        ["AMI1", "IFD"],
        ADULT,
        {},
        False,
        "0",
        ("5.65", "3.39", "0.00", "2.26", "5.65"),
    ),
    "paramedical out of the pathway: still 60 %": (
        ["AIS3"],
        ADULT,
        {"coordinated": False},
        False,
        "0",
        ("7.95", "4.77", "0.00", "3.18", "7.95"),
    ),
    "paramedical in ALD: 100 %": (
        ["AMI2", "IFD"],
        ADULT,
        {"exemption": "ALD"},
        True,
        "0",
        ("8.80", "8.80", "0.00", "0.00", "0.00"),
    ),
}


@pytest.mark.parametrize(
    ("acts", "birthdate", "changes", "tiers_payant", "used", "expected"),
    list(CASES.values()),
    ids=list(CASES),
)
def test_amounts(
    acts: list[str],
    birthdate: str,
    changes: dict,
    tiers_payant: bool,
    used: str,
    expected: tuple[str, ...],
) -> None:
    amounts = compute(acts, rights(birthdate, **changes), DAY, tiers_payant, Decimal(used))
    got = amounts.as_json()
    assert (got["base"], got["amo"], got["participation_forfaitaire"]) == expected[:3]
    assert (got["patient"], got["due_now"]) == expected[3:]
    assert len(amounts.lines) == len(acts)


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
)
def test_amounts_always_add_up_to_the_cent(
    acts: list[str],
    birthyear: int,
    exemption: str,
    coordinated: bool,
    tiers_payant: bool,
    used: Decimal,
) -> None:
    patient = rights(f"{birthyear}-03-01", exemption=exemption, coordinated=coordinated)
    a = compute(acts, patient, DAY, tiers_payant, used)
    assert a.amo + a.patient == a.base
    for value in (a.base, a.amo, a.pf, a.patient, a.due_now):
        assert value >= ZERO
        assert value == value.quantize(CENT)
    assert a.pf <= max(PF_YEARLY_CAP - used, ZERO)
    assert a.pf <= Decimal(2) * len(acts)
    assert a.due_now == (a.patient if tiers_payant else a.base)
    assert sum((line.amo + line.pf for line in a.lines), ZERO) <= a.base


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
    for acts in sheets:
        used += compute(acts, rights(), DAY, False, used).pf
    assert used <= PF_YEARLY_CAP
    assert used == min(PF_YEARLY_CAP, Decimal(2) * sum(map(len, sheets)))


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


def test_the_population_has_ame_beneficiaries_drawn_deterministically() -> None:
    _, cards, _ = generate()
    again = generate()[1]
    assert cards == again
    ame = [c for c in cards if c.exemption == "AME"]
    assert len(ame) >= 10
    holders = [c for c in ame if c.rank == 1]
    assert holders and all(is_nia(c.ins) for c in holders)
