"""The emulated INSi in process: answer codes, narrowing, verification, Vitale cards,
the token and profession checks, and 4xx OperationOutcomes for every bad input."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import httpx
import pytest

from bsp_tui.domain.patients import OID_NIA, OID_NIR_TEST
from connectors import ins as ins_package
from tests.conftest import Emulation
from tests.connectors.ins.conftest import BY_INS, api_token, family_card, scenario, unknown_ins

pytestmark = pytest.mark.anyio

MARTIN = {"family": "Martin", "given": "Jean", "sex": "M", "birthdate": "1980-05-12"}
JEAN_PIERRE = scenario("MARTIN", "JEAN PIERRE")
JEAN_MARC = scenario("MARTIN", "JEAN MARC")
JEAN = scenario("MARTIN", "JEAN")
AMINATA = scenario("OUEDRAOGO", "AMINATA")
LUCAS = scenario("PETIT", "LUCAS")


async def post(emu: Emulation, path: str, body: object, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await emu.http.post(f"/api/ins/{path}", json=body, headers=headers)


def outcome(response: httpx.Response) -> dict:
    """The single issue of an OperationOutcome answer."""
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    (issue,) = body["issue"]
    assert issue["severity"] == "error"
    return issue


async def test_one_identity_is_00_with_its_matricule_oid_and_traits_no_status(
    emu: Emulation,
) -> None:
    token = await api_token(emu)
    body = {"family": "Ouédraogo", "given": "aminata", "sex": "F", "birthdate": "1990-05-30"}
    response = await post(emu, "lookup", body, token)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["code"] == "00"
    assert answer["identities"] == [asdict(AMINATA)]
    assert answer["identities"][0]["oid"] == OID_NIA
    # The confidence status is the structure's (identity vigilance), never INSi's.
    assert "status" not in answer["identities"][0]


async def test_corsican_birthplace_and_lower_case_code(emu: Emulation) -> None:
    token = await api_token(emu)
    body = {"family": "PETIT", "given": "Lucas", "sex": "M", "birthdate": "2012-01-09"}
    answer = (await post(emu, "lookup", body | {"birthplace": "2a004"}, token)).json()
    assert answer["code"] == "00"
    assert answer["identities"][0]["ins"] == LUCAS.ins
    assert answer["identities"][0]["oid"] == OID_NIR_TEST
    assert (await post(emu, "lookup", body | {"birthplace": "2B004"}, token)).json()["code"] == "01"


async def test_nobody_is_01(emu: Emulation) -> None:
    token = await api_token(emu)
    answer = (await post(emu, "lookup", MARTIN | {"birthdate": "1980-05-13"}, token)).json()
    assert answer == {"code": "01", "identities": [], "message": answer["message"]}
    assert "Aucune" in answer["message"]


async def test_homonyms_are_02_and_nothing_about_them_is_disclosed(emu: Emulation) -> None:
    token = await api_token(emu)
    response = await post(emu, "lookup", MARTIN, token)
    answer = response.json()
    assert answer["code"] == "02"
    assert answer["identities"] == []
    assert "prénoms" in answer["message"] and "lieu de naissance" in answer["message"]
    for person in (JEAN_PIERRE, JEAN_MARC, JEAN):
        assert person.ins not in response.text
        assert person.birthplace not in response.text
    assert "3" not in answer["message"]  # not even how many


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"birthplace": "75115"}, JEAN_PIERRE),
        ({"birthplace": "31555"}, JEAN_MARC),
        ({"birthplace": "2B033"}, JEAN),
        ({"given": "Jean Pierre"}, JEAN_PIERRE),
        ({"given": "JEAN  marc"}, JEAN_MARC),
        ({"given": "Jean Marc", "birthplace": "31555"}, JEAN_MARC),
    ],
)
async def test_a_02_narrows_with_the_birthplace_or_more_first_names(
    emu: Emulation, extra: dict, expected: object
) -> None:
    token = await api_token(emu)
    answer = (await post(emu, "lookup", MARTIN | extra, token)).json()
    assert answer["code"] == "00", answer
    assert answer["identities"][0]["ins"] == expected.ins  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "extra",
    [
        {"given": "Pierre"},  # a later first name is not the first one
        {"given": "Jean Paul"},  # a further first name none of them has
        {"given": "Jean Marc", "birthplace": "75115"},  # both given, not the same person
        {"birthplace": "99350"},
    ],
)
async def test_traits_that_match_nobody_are_01(emu: Emulation, extra: dict) -> None:
    token = await api_token(emu)
    assert (await post(emu, "lookup", MARTIN | extra, token)).json()["code"] == "01"


async def test_every_patient_is_found_by_its_own_traits(emu: Emulation) -> None:
    """Over the population: a person's full traits (birthplace included) give them, 00 —
    or 02 when someone else has the same birth name, sex, date, place and first name."""
    token = await api_token(emu)
    for person in list(BY_INS.values())[::20]:
        body = {k: v for k, v in asdict(person).items() if k not in ("ins", "oid")}
        answer = (await post(emu, "lookup", body, token)).json()
        alike = [
            other
            for other in BY_INS.values()
            if (other.family, other.sex, other.birthdate, other.birthplace)
            == (person.family, person.sex, person.birthdate, person.birthplace)
            and other.first_given == person.first_given
            and set(person.given.split()) <= set(other.given.split())
        ]
        if len(alike) == 1:
            assert answer["code"] == "00", (person, answer)
            assert answer["identities"][0]["ins"] == person.ins
        else:
            assert answer["code"] == "02", (person, answer)


async def test_many_lookups_at_once_are_answered_each_in_its_place(emu: Emulation) -> None:
    token = await api_token(emu)
    one = {k: v for k, v in asdict(AMINATA).items() if k in MARTIN}
    single = (await post(emu, "lookup", one, token)).json()
    malformed = (await post(emu, "lookup", MARTIN | {"sex": "X"}, token)).json()
    asked = [one, MARTIN | {"family": "Inconnu"}, MARTIN, MARTIN | {"sex": "X"}, "Martin"]
    asked += [MARTIN | {"family": "Inconnu"}] * 94 + [one]
    response = await post(emu, "lookups", {"lookups": asked}, token)
    assert response.status_code == 200, response.text
    answers = response.json()["answers"]
    assert len(answers) == 100
    assert answers[0] == answers[-1] == single  # as /lookup answers it, first and last
    assert [a["code"] for a in answers[1:3]] == ["01", "02"]
    assert answers[2]["identities"] == []
    # A malformed lookup is refused in its place, as /lookup refuses it; the rest answered.
    assert answers[3] == {"status": 422, "outcome": malformed}
    assert answers[4]["status"] == 422
    assert "objet JSON" in answers[4]["outcome"]["issue"][0]["diagnostics"]
    assert {a["code"] for a in answers[5:99]} == {"01"}


async def test_verify_an_ins(emu: Emulation) -> None:
    token = await api_token(emu)
    ins = JEAN_MARC.ins
    known = (await post(emu, "verify", {"ins": ins}, token)).json()
    assert known == {"ins": ins, "oid": OID_NIR_TEST, "known": True, "consistent": None}
    traits = {"family": "martin", "given": "Jean", "sex": "M", "birthdate": "1980-05-12"}
    same = (await post(emu, "verify", {"ins": ins, **traits}, token)).json()
    assert same["consistent"] is True
    narrowed = (await post(emu, "verify", {"ins": ins, "given": "Jean Marc"}, token)).json()
    assert narrowed["consistent"] is True
    for wrong in ({"given": "Jean Pierre"}, {"sex": "F"}, {"birthplace": "75115"}):
        answer = (await post(emu, "verify", {"ins": ins} | wrong, token)).json()
        assert answer["known"] is True
        assert answer["consistent"] is False, wrong
    nobody = unknown_ins()
    assert (await post(emu, "verify", {"ins": nobody}, token)).json() == {
        "ins": nobody,
        "oid": None,
        "known": False,
        "consistent": None,
    }
    with_traits = await post(emu, "verify", {"ins": nobody, **traits}, token)
    assert with_traits.json()["consistent"] is False


async def test_a_card_lists_its_beneficiaries_then_gives_the_chosen_identity(
    emu: Emulation,
) -> None:
    token = await api_token(emu)
    serial, beneficiaries = family_card()
    response = await post(emu, "card", {"serial": serial}, token)
    assert response.status_code == 200, response.text
    listed = response.json()
    assert listed["serial"] == serial
    assert [b["rank"] for b in listed["beneficiaries"]] == [b.rank for b in beneficiaries]
    assert len(listed["beneficiaries"]) > 1
    for shown, held in zip(listed["beneficiaries"], beneficiaries, strict=True):
        person = BY_INS[held.ins]
        assert shown == {
            "rank": held.rank,
            "family": person.family,
            "given": person.given.split(" ")[0],
            "birthdate": person.birthdate,
        }
        assert held.ins not in response.text  # the INS comes only with a choice
    second = beneficiaries[1]
    chosen = await post(emu, "card/identity", {"serial": serial, "rank": second.rank}, token)
    assert chosen.json()["code"] == "00"
    assert chosen.json()["identities"] == [asdict(BY_INS[second.ins])]


async def test_unknown_cards_and_ranks_are_404(emu: Emulation) -> None:
    token = await api_token(emu)
    serial, beneficiaries = family_card()
    unknown = await post(emu, "card", {"serial": "0000000001"}, token)
    assert unknown.status_code == 404
    assert outcome(unknown)["code"] == "not-found"
    rank = await post(
        emu, "card/identity", {"serial": serial, "rank": len(beneficiaries) + 1}, token
    )
    assert rank.status_code == 404
    assert "rang" in outcome(rank)["diagnostics"]


async def test_no_token_or_another_services_token_is_refused(emu: Emulation) -> None:
    tokens = await emu.sign_in("generaliste")
    dmp = (await emu.exchange(tokens["access_token"], "dmp")).json()["access_token"]
    for path, body in (
        ("lookup", MARTIN),
        ("verify", {"ins": JEAN.ins}),
        ("card", {"serial": "1000000000"}),
        ("lookups", {"lookups": [MARTIN]}),
    ):
        for token in (None, dmp, tokens["access_token"], "not-a-jwt"):
            response = await post(emu, path, body, token)
            assert response.status_code == 401, (path, token)
            assert outcome(response)["code"] == "login"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_token_of_an_ended_session_is_refused(emu: Emulation) -> None:
    tokens = await emu.sign_in("generaliste")
    api = (await emu.exchange(tokens["access_token"], "ins")).json()["access_token"]
    assert (await post(emu, "lookup", MARTIN, api)).status_code == 200
    revoked = await emu.http.post(
        "/auth/realms/esante-wallet/protocol/openid-connect/revoke",
        data={"token": tokens["refresh_token"], "client_id": "bsp-launcher"},
    )
    assert revoked.status_code == 200
    assert (await post(emu, "lookup", MARTIN, api)).status_code == 401


async def test_every_demo_profession_may_use_ins_and_a_restricted_one_is_403(
    emu: Emulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    for persona in ("generaliste", "pharmacien", "infirmier", "secretaire"):
        token = await api_token(emu, persona)
        assert (await post(emu, "lookup", MARTIN, token)).status_code == 200, persona
    doctors_only = replace(ins_package.CONNECTOR, professions=frozenset({"10"}))
    monkeypatch.setattr(ins_package, "CONNECTOR", doctors_only)
    refused = await post(emu, "lookup", MARTIN, await api_token(emu, "pharmacien"))
    assert refused.status_code == 403
    assert "Pharmacien" in outcome(refused)["diagnostics"]
    assert (
        await post(emu, "lookup", MARTIN, await api_token(emu, "urgentiste"))
    ).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("lookup", MARTIN | {"birthdate": "1980-13-12"}, 422, "birthdate"),
        ("lookup", MARTIN | {"birthdate": "12/05/1980"}, 422, "birthdate"),
        ("lookup", MARTIN | {"birthdate": "2999-01-01"}, 422, "birthdate"),
        ("lookup", MARTIN | {"sex": "X"}, 422, "sex"),
        ("lookup", MARTIN | {"family": "Mart1n"}, 422, "family"),
        ("lookup", MARTIN | {"family": "   "}, 422, "family"),
        ("lookup", MARTIN | {"family": "A" * 101}, 422, "family"),
        ("lookup", MARTIN | {"given": "é" * 100_000}, 422, "given"),
        ("lookup", MARTIN | {"given": "Jean;drop"}, 422, "given"),
        ("lookup", MARTIN | {"birthplace": "7511"}, 422, "birthplace"),
        ("lookup", MARTIN | {"birthplace": "2C004"}, 422, "birthplace"),
        ("lookup", MARTIN | {"family": 12}, 422, "family"),
        ("lookup", {k: v for k, v in MARTIN.items() if k != "given"}, 422, "given"),
        ("lookup", [MARTIN], 400, None),
        ("lookup", "Martin", 400, None),
        ("lookups", {"lookups": []}, 422, "lookups"),
        ("lookups", {"lookups": [MARTIN] * 101}, 422, "lookups"),
        ("lookups", {"lookups": MARTIN}, 422, "lookups"),
        ("lookups", {}, 422, "lookups"),
        ("lookups", [MARTIN], 400, None),
        ("verify", {"ins": "180057511524888"}, 422, "ins"),
        ("verify", {"ins": "18005751152488"}, 422, "ins"),
        ("verify", {}, 422, "ins"),
        ("verify", {"ins": JEAN.ins, "sex": "H"}, 422, "sex"),
        ("card", {"serial": "12345"}, 422, "serial"),
        ("card", {"serial": None}, 422, "serial"),
        ("card/identity", {"serial": "1000000000", "rank": "1"}, 422, "rank"),
        ("card/identity", {"serial": "1000000000", "rank": True}, 422, "rank"),
        ("card/identity", {"serial": "1000000000", "rank": 0}, 422, "rank"),
        ("card/identity", {"serial": "1000000000"}, 422, "rank"),
    ],
)
async def test_bad_input_is_a_4xx_operation_outcome_naming_the_field(
    emu: Emulation, path: str, body: object, status: int, field: str | None
) -> None:
    token = await api_token(emu)
    response = await post(emu, path, body, token)
    assert response.status_code == status, response.text
    issue = outcome(response)
    if field:
        assert issue["expression"] == [field]
        assert issue["diagnostics"].startswith(f"{field} : ")


async def test_a_body_that_is_not_json_is_400(emu: Emulation) -> None:
    token = await api_token(emu)
    for raw in (b"{", b"\xff\xfe", b"", b"[" * 100_000 + b"]" * 100_000):
        response = await emu.http.post(
            "/api/ins/lookup",
            content=raw,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert response.status_code == 400, raw
        assert "JSON" in outcome(response)["diagnostics"]


async def test_traits_travel_in_the_body_and_the_paths_are_published(emu: Emulation) -> None:
    document = (await emu.http.get("/openapi.json")).json()
    for path in ("lookup", "lookups", "verify", "card", "card/identity"):
        operation = document["paths"][f"/api/ins/{path}"]["post"]
        assert "requestBody" in operation
        assert operation.get("security"), path
        assert not operation.get("parameters")
    schema = document["paths"]["/api/ins/lookup"]["post"]["requestBody"]["content"]
    assert json.dumps(schema).count("birthdate") >= 1
