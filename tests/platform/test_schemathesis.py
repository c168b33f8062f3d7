"""Property-based fuzzing of the platform's OpenAPI document: no input gives a server error.

Every operation the app publishes gets valid and invalid requests (schemathesis, over
the ASGI app in process). Random values alone rarely get past client authentication,
so some fields are swapped for values the platform knows (the launcher's client id, a
persona's national id, live tokens, pending handles) to reach the code behind. Whatever
a request carries, the answer must be a success or a clear 4xx, never a 5xx; JSON
bodies also carry, now and then, a non-finite number (NaN, Infinity) or a lone surrogate.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator, MutableMapping
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI, Request, Response
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode

from bsp_tui.platform.app import create_app
from bsp_tui.platform.core import audiences
from bsp_tui.platform.settings import PlatformSettings
from tests.conftest import ACCESS_TYPE, CIBA_GRANT, DEVICE_GRANT, EXCHANGE_GRANT, LAUNCHER
from tests.support import postgres as postgres_support

MAX_EXAMPLES = 25
# Where schemathesis' ASGI client says it is, hence the issuer the app sees.
ISSUER = "http://testserver/auth/realms/esante-wallet"
REDIRECT = "http://127.0.0.1:8123/callback"

Schema = schemathesis.schemas.BaseSchema


def _published_document() -> dict:
    """The OpenAPI document, read at collection from an app over a throwaway database."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(PlatformSettings(database=Path(folder) / "platform.sqlite3"))
        try:
            return app.openapi()
        finally:
            app.state.platform.db.close()


def _declared_names(document: dict) -> dict[tuple[str, str], dict[str, set[str]]]:
    """For each (method, path): the names it declares, by place (path, query, header, body)."""
    declared: dict[tuple[str, str], dict[str, set[str]]] = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            places: dict[str, set[str]] = {"path": set(), "query": set(), "header": set()}
            for parameter in operation.get("parameters", []):
                places.setdefault(parameter["in"], set()).add(parameter["name"])
            if operation.get("security"):
                places["header"].add("Authorization")
            places["body"] = set()
            for content in operation.get("requestBody", {}).get("content", {}).values():
                ref = content["schema"].get("$ref", "")
                body = document["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
                places["body"] |= set(body.get("properties", {}))
            declared[(method.upper(), path)] = places
    return declared


DOCUMENT = _published_document()
DECLARED = _declared_names(DOCUMENT)
OPERATIONS = sorted(DECLARED)


def _known_values(app: FastAPI) -> dict[str, st.SearchStrategy]:
    """Values the platform recognises, by parameter name: live tokens, pending handles."""
    platform = app.state.platform
    platform.reset()  # no lockout or ended session left by the operation fuzzed before
    launcher = platform.clients.get(LAUNCHER)
    personas = platform.ecps.personas()
    national_ids = [p["national_id"] for p in personas]
    sid = platform.tokens.open_session(
        national_ids[0], LAUNCHER, "openid scope_all", "n0nce", "MOBILE"
    )
    issued = platform.tokens.issue(sid, ISSUER)
    api_tokens = [
        platform.tokens.exchange(issued["access_token"], audience, ISSUER, LAUNCHER)["access_token"]
        for audience in audiences()
    ]
    jwts = [issued["access_token"], issued["id_token"], *api_tokens]
    ciba = platform.flows.start_ciba(
        launcher, "openid scope_all", national_ids[1], "42", "eidas1", None
    )
    device = platform.flows.start_device(launcher, "openid")
    tx = platform.flows.start_code(
        launcher, REDIRECT, "openid scope_all", "st", "n0nce", "A" * 43, "S256", "eidas1"
    )
    request_ids = [r.id for r in platform.ecps.pending()]
    tokens = st.sampled_from([*jwts, issued["refresh_token"]])
    return {
        "client_id": st.just(LAUNCHER),
        "grant_type": st.sampled_from(
            ["authorization_code", "refresh_token", CIBA_GRANT, DEVICE_GRANT, EXCHANGE_GRANT]
        ),
        "service": st.sampled_from([*audiences(), "inconnu"]),
        "audience": st.sampled_from(audiences()),
        "subject_token_type": st.just(ACCESS_TYPE),
        "subject_token": tokens,
        "token": tokens,
        "refresh_token": st.just(issued["refresh_token"]),
        "id_token_hint": st.sampled_from(jwts),
        # The PSC access token more often than the others: it opens userinfo.
        "Authorization": st.sampled_from([f"Bearer {t}" for t in [jwts[0], *jwts]]),
        "login_hint": st.sampled_from(national_ids),
        "national_id": st.sampled_from(national_ids),
        "name": st.sampled_from([p["name"] for p in personas]),
        "binding_message": st.just("42"),
        "acr_values": st.just("eidas1"),
        "scope": st.just("openid scope_all"),
        "redirect_uri": st.just(REDIRECT),
        "post_logout_redirect_uri": st.just(REDIRECT),
        "response_type": st.just("code"),
        "code_challenge": st.just("A" * 43),
        "code_challenge_method": st.just("S256"),
        "auth_req_id": st.just(ciba.handle),
        "device_code": st.just(device.handle),
        "user_code": st.just(device.user_code),
        "tx": st.just(tx),
        "request_id": st.sampled_from(request_ids),
    }


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def app_and_schema(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastAPI, Schema]]:
    """The app over each engine: what a fuzzed request may not break is the same."""
    database: Path | str = tmp_path_factory.mktemp("schemathesis") / "platform.sqlite3"
    if request.param == "postgresql":
        server: postgres_support.Server = request.getfixturevalue("postgres")
        database = server.create_database()
    # A pending poll answered at once: held ones (tests/platform/test_long_poll.py) would
    # hold each example that polls a live auth_req_id for the interval.
    app = create_app(PlatformSettings(database=database, long_poll=False))
    yield app, schemathesis.openapi.from_asgi("/openapi.json", app)
    app.state.platform.db.close()
    if request.param == "postgresql":
        server.drop_database(str(database))


def _swap_in_known_values(
    case: schemathesis.Case, places: dict[str, set[str]], known: dict, data: st.DataObject
) -> None:
    """Set some declared parameters to values the platform knows (present or not)."""
    containers = {
        "path": case.path_parameters,
        "query": case.query,
        "header": case.headers,
        "body": case.body,
    }
    for place, names in places.items():
        container = containers.get(place)
        if container is None and place in ("query", "header"):
            container = {}
            setattr(case, "query" if place == "query" else "headers", container)
        if not isinstance(container, MutableMapping):
            continue  # a negative case's body that is not a form: leave it as generated
        for name in sorted(names & known.keys()):
            if data.draw(st.booleans(), label=f"known {name}"):
                container[name] = data.draw(known[name], label=name)


# What JSON has no room for but Python's parser (and so a naive service) accepts, and
# what no UTF-8 text can carry: the platform must refuse them with a 4xx.
HOSTILE = st.sampled_from(
    [float("nan"), float("inf"), float("-inf"), "\ud800", "fin\udfff", {"x": float("nan")}]
)


def _swap_in_hostile_values(case: schemathesis.Case, data: st.DataObject) -> None:
    """Now and then, one field of a JSON body becomes a non-finite number or bad Unicode.

    The body then travels as the bytes Python's json module writes (`NaN`, `Infinity`,
    `"\\ud800"`): the HTTP client's own serialiser refuses to write them.
    """
    if "json" not in (case.media_type or "") or not isinstance(case.body, MutableMapping):
        return
    if case.body and data.draw(st.integers(0, 3), label="hostile body") == 0:
        name = data.draw(st.sampled_from(sorted(map(str, case.body))), label="hostile field")
        case.body[name] = data.draw(HOSTILE, label="hostile value")
        case.body = json.dumps(case.body).encode()


def _fuzz(schema: Schema, method: str, path: str, known: dict, places: dict[str, set[str]]) -> None:
    """Call one operation with generated requests; fail on the first 5xx."""
    operation = schema[path][method]
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, data=st.data())
    def no_server_error(case: schemathesis.Case, data: st.DataObject) -> None:
        _swap_in_known_values(case, places, known, data)
        _swap_in_hostile_values(case, data)
        # The platform's own answer: a redirect is not followed to the client's address.
        response = case.call(allow_redirects=False)
        case.validate_response(response, checks=[not_a_server_error])

    no_server_error()


def test_the_document_publishes_every_part_of_the_platform() -> None:
    paths = set(DOCUMENT["paths"])
    assert "/auth/realms/esante-wallet/protocol/openid-connect/token" in paths
    assert "/auth/realms/esante-wallet/protocol/openid-connect/ext/ciba/auth" in paths
    assert "/wallet/auth" in paths
    assert "/ecps/requests/{request_id}/answer" in paths
    assert "/api/{service}/me" in paths
    assert len(OPERATIONS) >= 20


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_input_gives_a_server_error(
    app_and_schema: tuple[FastAPI, Schema], method: str, path: str
) -> None:
    app, schema = app_and_schema
    # A fresh session and fresh handles for each operation: another one may have ended them.
    _fuzz(schema, method, path, _known_values(app), DECLARED[(method, path)])


def test_the_fuzzing_reports_a_server_error() -> None:
    """The same harness over an app with a route that breaks on some input must fail."""
    app = FastAPI()

    @app.get("/fragile")
    async def fragile(n: int) -> Response:
        return Response(status_code=500 if n % 2 == 0 else 200)  # half the inputs break it

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    with pytest.raises(FailureGroup):
        _fuzz(schema, "GET", "/fragile", {}, {})


def test_the_fuzzing_sends_non_finite_numbers_and_bad_unicode() -> None:
    """The hostile values reach the app: a service that trusts Python's parser fails."""
    app = FastAPI()
    body = {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}
    extra = {"requestBody": {"content": {"application/json": {"schema": body}}}}

    @app.post("/naive", openapi_extra=extra)
    async def naive(request: Request) -> Response:
        value = json.loads(await request.body()).get("x")
        broken = isinstance(value, float) and not math.isfinite(value)
        broken = broken or (isinstance(value, str) and not value.isprintable())
        return Response(status_code=500 if broken else 200)

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    with pytest.raises(FailureGroup):
        _fuzz(schema, "POST", "/naive", {}, {})
