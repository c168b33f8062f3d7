"""Every endpoint's body is capped (413) and strict JSON (400, the field named): the
platform's body guard, before any endpoint, PSC's and e-CPS's included."""

from __future__ import annotations

import pytest

from bsp_tui.platform.bodies import BodyGuard
from connectors.base import DEFAULT_MAX_BODY_BYTES
from connectors.dmp.models import MAX_BODY_BYTES as DMP_MAX_BODY_BYTES
from tests.conftest import CIBA, TOKEN, Emulation

pytestmark = pytest.mark.anyio
JSON = {"Content-Type": "application/json"}
ENDPOINTS = [
    "/api/ins/lookup",
    "/api/fse/batches",
    "/api/fse/rights",
    "/api/eprescription/MedicationRequest",
    "/ecps/requests/x/answer",
    TOKEN,
    CIBA,
]


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_every_endpoint_caps_its_body(emu: Emulation, path: str) -> None:
    over = b" " * (DEFAULT_MAX_BODY_BYTES + 1)
    answer = await emu.http.post(path, content=over, headers=JSON)
    assert answer.status_code == 413, answer.text
    body = answer.json()
    if path.startswith("/api/"):
        assert body["issue"][0]["code"] == "too-costly"
    else:
        assert body["error"] == "invalid_request"
    assert "trop volumineuse" in answer.text


async def test_the_dmp_takes_its_larger_documents_and_no_more(emu: Emulation) -> None:
    path = "/api/dmp/DocumentReference"
    below = await emu.http.post(path, content=b" " * DEFAULT_MAX_BODY_BYTES * 2, headers=JSON)
    assert below.status_code == 401  # read, then refused for want of a token
    over = await emu.http.post(path, content=b" " * (DMP_MAX_BODY_BYTES + 1), headers=JSON)
    assert over.status_code == 413


async def test_a_declared_length_over_the_cap_is_refused_unread(emu: Emulation) -> None:
    app = emu.http._transport.app  # type: ignore[attr-defined]
    sent: list[dict] = []

    async def receive() -> dict:
        raise AssertionError("the body of an oversized request was read")

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/ins/lookup",
        "raw_path": b"/api/ins/lookup",
        "query_string": b"",
        "headers": [(b"content-length", b"31457280"), (b"content-type", b"application/json")],
        "scheme": "http",
        "server": ("plateforme.bsp", 80),
        "http_version": "1.1",
        "root_path": "",
    }
    await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"family": NaN}', "family"),
        (b'{"family": "A", "given": [1, Infinity]}', "given[1]"),
        (b'{"birthdate": -Infinity}', "birthdate"),
        (b'{"family": "\\ud800"}', "family"),
        (b'{"traits": {"given": "x\\udfff"}}', "traits.given"),
        (b'{"\\ud83d": 1}', "\\ud83d"),
        (b"NaN", "(corps)"),
    ],
)
async def test_non_finite_numbers_and_lone_surrogates_are_400(
    emu: Emulation, raw: bytes, field: str
) -> None:
    for path in ("/api/ins/lookup", "/api/fse/rights", "/api/dmp/DocumentReference"):
        answer = await emu.http.post(path, content=raw, headers=JSON)
        assert answer.status_code == 400, (path, answer.text)
        issue = answer.json()["issue"][0]
        assert issue["code"] == "invalid"
        assert issue["expression"] == [field]
    # The e-CPS and PSC endpoints answer in their own shape, the field named too.
    answer = await emu.http.post("/ecps/requests/x/answer", content=raw, headers=JSON)
    assert answer.status_code == 400
    assert (answer.json()["error"], answer.json()["field"]) == ("invalid_request", field)


async def test_a_body_that_is_not_utf8_is_400(emu: Emulation) -> None:
    answer = await emu.http.post("/api/fse/rights", content=b'{"ins": "\xff"}', headers=JSON)
    assert answer.status_code == 400
    assert "UTF-8" in answer.json()["issue"][0]["diagnostics"]


async def test_a_finite_body_still_reaches_the_endpoint(emu: Emulation) -> None:
    # 1e308 is a finite number, and "\ud83d\ude00" a well-formed pair: the endpoint answers.
    raw = b'{"ins": 1e308, "note": "\\ud83d\\ude00"}'
    answer = await emu.http.post("/api/fse/rights", content=raw, headers=JSON)
    assert answer.status_code == 401


def test_the_longest_prefix_sets_the_cap() -> None:
    guard = BodyGuard(app=None, limits={"/api/": 10, "/api/dmp/": 20}, default=5)  # type: ignore[arg-type]
    assert [guard.limit_for(p) for p in ("/api/dmp/x", "/api/ins/x", "/ecps/x")] == [20, 10, 5]
