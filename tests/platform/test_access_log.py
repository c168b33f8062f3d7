"""The access log: one JSON line a request, with the request id the answer echoes."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bsp_tui.logs import log_to_file
from bsp_tui.platform.app import create_app
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.sso.profile import EMBEDDED_BASE_URL

pytestmark = pytest.mark.anyio
HTTP_LOG = "bsp.platform.http"


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "logs" / "platform.log"
    log_to_file(path, names=(HTTP_LOG,), json_lines=True)
    yield path
    logger = logging.getLogger(HTTP_LOG)
    for handler in logger.handlers[:]:
        logger.removeHandler(handler)
        handler.close()


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(PlatformSettings(database=tmp_path / "platform.sqlite3"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=EMBEDDED_BASE_URL) as client:
        yield client


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_each_request_is_one_json_line_without_its_query(
    http: httpx.AsyncClient, log_file: Path
) -> None:
    hint = "indice-secret-0123456789"
    first = await http.get("/healthz", params={"id_token_hint": hint})
    refused = await http.get("/api/ins/me", headers={"X-Request-ID": "poste-12/essai-3"})
    missing = await http.get("/nulle-part?code=4242")
    logged = lines(log_file)
    assert [(line["method"], line["path"], line["status"]) for line in logged] == [
        ("GET", "/healthz", 200),
        ("GET", "/api/ins/me", 401),
        ("GET", "/nulle-part", 404),
    ]
    assert [line["request_id"] for line in logged] == [
        first.headers["X-Request-ID"],
        "poste-12/essai-3",
        missing.headers["X-Request-ID"],
    ]
    assert refused.headers["X-Request-ID"] == "poste-12/essai-3"
    for line in logged:
        assert line["pid"] == os.getpid()
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
        assert line["time"].endswith("+00:00") and line["time"][:2] == "20"
    text = log_file.read_text(encoding="utf-8")
    assert hint not in text and "4242" not in text and "code=" not in text


@pytest.mark.parametrize(
    "given",
    ["x" * 65, "deux mots", "é-accentué", "tab\there", ""],
    ids=["too-long", "space", "non-ascii", "control", "empty"],
)
async def test_an_unfit_request_id_is_replaced_by_a_fresh_one(
    http: httpx.AsyncClient, log_file: Path, given: str
) -> None:
    response = await http.get("/healthz", headers={"X-Request-ID": given.encode()})
    fresh = response.headers["X-Request-ID"]
    assert fresh != given and len(fresh) == 32 and int(fresh, 16) >= 0
    assert lines(log_file)[-1]["request_id"] == fresh


async def test_the_longest_fit_request_id_is_kept_and_fresh_ones_differ(
    http: httpx.AsyncClient,
) -> None:
    longest = "~" + "A" * 62 + "!"
    echoed = await http.get("/healthz", headers={"X-Request-ID": longest})
    assert echoed.headers["X-Request-ID"] == longest
    fresh = {(await http.get("/healthz")).headers["X-Request-ID"] for _ in range(3)}
    assert len(fresh) == 3
