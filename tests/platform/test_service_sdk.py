"""The service SDK: tables and seed data made when the platform opens, one error shape for
every service, the caller read once from the API token, the patient registry's reads."""

from __future__ import annotations

import pytest

from bsp_tui.domain.fhir import FHIR_JSON
from bsp_tui.platform.api import Patients, Professional
from bsp_tui.platform.core import Platform
from bsp_tui.platform.settings import PlatformSettings
from connectors.fse.seed import CLOSED_SCENARIO_ON
from tests.conftest import Emulation

pytestmark = pytest.mark.anyio
LEFEVRE = "255095935018608"  # the scenario patient whose rights are closed


def test_opening_the_platform_makes_every_connectors_tables_and_seed(
    settings: PlatformSettings,
) -> None:
    platform = Platform.open(settings)
    db = platform.db
    try:
        assert db.one("SELECT COUNT(*) AS n FROM dmp_documents")["n"] == 3787
        closures = [tuple(row.values()) for row in db.all("SELECT * FROM fse_rights_closures")]
        assert closures == [(LEFEVRE, CLOSED_SCENARIO_ON)]
        assert db.one("SELECT COUNT(*) AS n FROM rx_prescriptions")["n"] == 0
        assert platform.audiences == ("ins", "dmp", "eprescription", "fse")
    finally:
        db.close()


async def test_a_reset_seeds_the_population_again(emu: Emulation) -> None:
    db = emu.platform.db
    with db.write() as conn:
        conn.execute("DELETE FROM dmp_documents WHERE ins = :ins", {"ins": LEFEVRE})
    emu.platform.reset()
    assert db.one("SELECT COUNT(*) AS n FROM dmp_documents")["n"] == 3787
    closed = db.value(
        "SELECT closed_on FROM fse_rights_closures WHERE ins = :ins", {"ins": LEFEVRE}
    )
    assert closed == CLOSED_SCENARIO_ON


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/ins/lookup"),
        ("POST", "/api/fse/rights"),
        ("GET", "/api/dmp/Patient"),
        ("POST", "/api/eprescription/MedicationRequest"),
    ],
)
async def test_every_service_refuses_a_missing_token_as_a_fhir_outcome(
    emu: Emulation, method: str, path: str
) -> None:
    response = await emu.http.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == 401
    assert response.headers["content-type"] == FHIR_JSON
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    issue = response.json()["issue"][0]
    assert issue == {"severity": "error", "code": "login", "diagnostics": "Jeton d'API manquant."}


async def test_the_caller_is_read_from_the_api_token(emu: Emulation) -> None:
    signed = await emu.sign_in("urgentiste")
    token = (await emu.exchange(signed["access_token"], "dmp")).json()["access_token"]
    me = (await emu.http.get("/api/dmp/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert (me["given_name"], me["family_name"]) == ("Karim", "Benali")
    assert me["profession"] == {"code": "10", "label": "Médecin", "savoir_faire": "SM59"}
    who = Professional.of({"given_name": "Karim", "family_name": "Benali"} | me)
    assert (who.name, who.profession, who.savoir_faire, who.label) == (
        "Karim Benali",
        "10",
        "SM59",
        "Médecin",
    )
    assert Professional.of({}).label == "profession inconnue"


def test_the_registry_reads_patients_and_cards(settings: PlatformSettings) -> None:
    platform = Platform.open(settings)
    patients = Patients(platform.db)
    try:
        lefevre = patients.by_ins(LEFEVRE)
        assert lefevre is not None and (lefevre.family, lefevre.given) == ("LEFEVRE", "HELENE")
        assert patients.by_traits("LEFEVRE", "1955-09-03", "F") == [lefevre]
        assert patients.by_ins("100000000000000") is None
        card = patients.card_of(LEFEVRE)
        assert card is not None
        on_card = patients.card(card.serial)
        assert [identity for beneficiary, identity in on_card if beneficiary.rank == card.rank] == [
            lefevre
        ]
        assert patients.card("0000000000") == []
    finally:
        platform.db.close()
