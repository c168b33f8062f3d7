"""The SSO trace: each step of a real sign-in, with tokens redacted and nothing secret kept."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import keyring
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import OctKey

from bsp_tui.launcher import open_session, virtual_phone
from bsp_tui.platform.core import Platform
from bsp_tui.platform.settings import PlatformSettings
from bsp_tui.sso.errors import UsageError
from bsp_tui.sso.profile import EMBEDDED_BASE_URL
from bsp_tui.sso.session import Session
from bsp_tui.sso.trace import OPAQUE, SIGNATURE, RedactedToken, TraceEntry, Tracer
from tests.conftest import OIDC, Emulation
from tests.support.keyring_backend import FileKeyring

# Fields of a request or an answer whose value must never reach the trace in clear.
SECRET_FIELDS = {
    "access_token",
    "id_token",
    "refresh_token",
    "subject_token",
    "token",
    "code",
    "code_verifier",
    "device_code",
    "auth_req_id",
    "client_secret",
    "id_token_hint",
    "pin",
    "otp",
    "otpauth_uri",
}


@pytest.fixture
def shared_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "keyring.json"
    monkeypatch.setenv("BSP_TEST_KEYRING", str(path))
    monkeypatch.setenv("BSP_POLL_INTERVAL", "1")
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    yield path
    keyring.set_keyring(previous)


class Secrets:
    """Every secret value that crossed the wire, seen by a hook of the test's own."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def _collect(self, pairs: dict) -> None:
        for name, value in pairs.items():
            if name in SECRET_FIELDS and isinstance(value, str) and value:
                self.values.add(value)
                if value.count(".") == 2:
                    self.values.add(value.rsplit(".", 1)[1])  # a JWT's signature

    async def on_request(self, request: httpx.Request) -> None:
        self._collect({k: v[0] for k, v in parse_qs(request.url.query.decode()).items()})
        content = request.content.decode()
        if content.startswith("{"):
            self._collect(json.loads(content))
        elif content:
            self._collect({k: v[0] for k, v in parse_qs(content).items()})
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme == "Bearer":
            self._collect({"access_token": credentials})

    async def on_response(self, response: httpx.Response) -> None:
        await response.aread()
        if "json" in response.headers.get("content-type", ""):
            body = response.json()
            if isinstance(body, dict):
                self._collect(body)

    def watch(self, client: httpx.AsyncClient) -> None:
        client.event_hooks["request"].append(self.on_request)
        client.event_hooks["response"].append(self.on_response)


@pytest.fixture
async def traced(shared_keyring: Path) -> AsyncIterator[tuple[Session, Tracer, Secrets]]:
    tracer = Tracer()
    secrets = Secrets()
    async with open_session(tracer=tracer) as session:
        secrets.watch(session.http)
        yield session, tracer, secrets


def pin_of(name: str) -> str:
    platform = Platform.open(PlatformSettings.from_env())
    try:
        return platform.ecps.persona(name=name)["pin"]
    finally:
        platform.db.close()


async def sign_in(session: Session, name: str = "generaliste") -> None:
    phone = virtual_phone(session.http)
    persona = await phone.persona(name)
    pin = pin_of(name)

    async def approve(binding: str) -> None:
        await phone.approve_binding(name, pin, binding)

    await session.sign_in("ciba", lambda _: None, persona["national_id"], approve=approve)


def texts(value: object) -> Iterator[str]:
    """Every string inside an entry: its fields, its tokens, their header and claims."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from texts(getattr(value, item.name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from texts(key)
            yield from texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from texts(item)
    elif isinstance(value, str):
        yield value


def assert_nothing_secret(entries: list[TraceEntry], secrets: set[str]) -> None:
    for entry in entries:
        shown = [repr(entry), str(entry)]
        for item in dataclasses.fields(entry):
            shown += [repr(getattr(entry, item.name)), str(getattr(entry, item.name))]
        strings = set(texts(entry))
        for secret in secrets:
            assert secret not in strings, (entry.step, secret[:6])
            if len(secret) >= 16:  # a token or a handle: nowhere, not even inside a text
                assert not any(secret in text for text in shown), (entry.step, secret[:6])
            else:
                # A PIN or a one-time code: not as a word of its own. (Its digits may well
                # occur inside a timestamp, a duration or an identifier.)
                word = re.compile(rf"(?<![\w.-]){re.escape(secret)}(?![\w.-])")
                assert not any(word.search(text) for text in shown), (entry.step, len(secret))


def is_subsequence(wanted: list[str], steps: list[str]) -> bool:
    remaining = iter(steps)
    return all(step in remaining for step in wanted)


def token(entry: TraceEntry, field: str) -> RedactedToken:
    return next(t for t in entry.tokens if t.field == field)


pytestmark = pytest.mark.anyio


async def test_a_traced_sign_in_shows_each_step_and_no_secret(
    traced: tuple[Session, Tracer, Secrets],
) -> None:
    session, tracer, secrets = traced
    await sign_in(session)
    await session.connector_token("dmp")
    async with session.client_for("dmp") as client:
        secrets.watch(client)
        assert (await client.get("/me")).status_code == 200
    await session.logout()

    entries = list(tracer.entries)
    steps = [e.step for e in entries]
    assert is_subsequence(
        [
            "Découverte OIDC",
            "CIBA : demande e-CPS",
            "e-CPS : réponse",
            "Jeton : attente (CIBA)",
            "Clés publiques (JWKS)",
            "Userinfo",
            "Jeton : échange → dmp",
            "Service dmp",
            "Révocation",
            "Déconnexion PSC",
        ],
        steps,
    ), steps

    signed_in = next(e for e in entries if e.step == "Jeton : attente (CIBA)" and e.status == 200)
    assert {t.field for t in signed_in.tokens} == {"access_token", "id_token", "refresh_token"}
    assert token(signed_in, "refresh_token").display == OPAQUE
    assert token(signed_in, "refresh_token").claims is None
    id_token = token(signed_in, "id_token")
    assert id_token.header["alg"] == "RS256"
    assert id_token.claims["acr"] == "eidas1"
    assert id_token.display.endswith("." + SIGNATURE)

    exchange = next(e for e in entries if e.step == "Jeton : échange → dmp")
    assert (exchange.method, exchange.status, exchange.error) == ("POST", 200, "")
    assert exchange.endpoint == f"{OIDC}/token"
    api = token(exchange, "access_token")
    assert api.claims["aud"] == "dmp"
    assert api.header["kid"]
    assert api.display.endswith(SIGNATURE)
    # What was exchanged: the PSC access token of the sign-in, decoded too.
    assert token(exchange, "subject_token").claims == token(signed_in, "access_token").claims
    assert token(exchange, "subject_token").claims.get("aud") != "dmp"

    service = next(e for e in entries if e.step == "Service dmp")
    assert service.endpoint == "/api/dmp/me"
    assert token(service, "bearer").claims == api.claims

    logout = next(e for e in entries if e.step == "Déconnexion PSC")
    assert logout.endpoint == f"{OIDC}/logout"
    assert "?" not in logout.endpoint
    assert "id_token_hint" not in repr(logout)

    for entry in entries:
        assert entry.duration_ms >= 0
        assert abs(entry.at - time.time()) < 600

    pin = pin_of("generaliste")
    assert pin in secrets.values  # the watcher did see the PIN and the one-time code
    assert len(secrets.values) > 10
    assert_nothing_secret(entries, secrets.values)


async def test_a_refused_exchange_records_the_oauth_error(
    traced: tuple[Session, Tracer, Secrets],
) -> None:
    session, tracer, secrets = traced
    await sign_in(session)
    with pytest.raises(UsageError):
        await session.connector_token("radiologie")
    refused = tracer.entries[-1]
    assert refused.step == "Jeton : échange → radiologie"
    assert (refused.status, refused.error) == (400, "invalid_target")
    assert [t.field for t in refused.tokens] == ["subject_token"]
    assert all(e.error == "" for e in tracer.entries if e.status < 400)
    assert_nothing_secret(list(tracer.entries), secrets.values)


async def test_a_renewal_is_traced_without_the_refresh_token(
    traced: tuple[Session, Tracer, Secrets],
) -> None:
    session, tracer, secrets = traced
    await sign_in(session)
    access = session.store.get("access")
    session.store.put("access", access | {"expires_at": time.time() - 1})
    await session.connector_token("ins")
    steps = [e.step for e in tracer.entries]
    assert steps[-2:] == ["Jeton : rafraîchissement", "Jeton : échange → ins"]
    renewal = tracer.entries[-2]
    assert {t.field for t in renewal.tokens} == {"access_token", "id_token", "refresh_token"}
    assert_nothing_secret(list(tracer.entries), secrets.values)


async def test_a_wrong_pin_is_traced_with_the_phone_error_code(emu: Emulation) -> None:
    tracer = Tracer()
    tracer.attach(emu.http)
    started = await emu.start_ciba("generaliste")
    request_id = await emu.pending_id("generaliste")
    response = await emu.answer(request_id, "generaliste", pin="0000")
    assert response.status_code == 403
    answer = tracer.entries[-1]
    assert answer.step == "e-CPS : réponse"
    assert answer.error == response.json()["error"]["code"]
    assert answer.tokens == ()
    ciba = next(e for e in tracer.entries if e.step == "CIBA : demande e-CPS")
    assert token(ciba, "auth_req_id").display == OPAQUE
    assert started.json()["auth_req_id"] not in repr(list(tracer.entries))


async def test_subscribers_hear_each_entry_and_the_history_is_bounded(emu: Emulation) -> None:
    tracer = Tracer(maxlen=3)
    tracer.attach(emu.http)
    tracer.attach(emu.http)  # attaching twice still traces each request once
    heard: list[TraceEntry] = []

    def broken(_: TraceEntry) -> None:
        raise RuntimeError("a panel that fails")

    tracer.subscribe(broken)  # must not fail the request
    unsubscribe = tracer.subscribe(heard.append)
    for _ in range(4):
        response = await emu.http.get(f"{OIDC}/certs")
        assert response.status_code == 200
    assert len(heard) == 4
    assert list(tracer.entries) == heard[-3:]
    assert all(e.step == "Clés publiques (JWKS)" and e.tokens == () for e in heard)
    unsubscribe()
    tracer.unsubscribe(broken)
    await emu.http.get("/")
    assert len(heard) == 4
    assert tracer.entries[-1].endpoint == "/"


async def test_the_polling_under_a_room_prefix_is_left_out_too(emu: Emulation) -> None:
    tracer = Tracer()
    base = f"{EMBEDDED_BASE_URL}/rooms/salle-1"
    async with httpx.AsyncClient(transport=emu.http._transport, base_url=base) as room:
        tracer.attach(room)
        await room.get("/demo/faults")
        await room.get("/ecps/requests")
        await room.get(f"{OIDC}/certs")
    assert [e.endpoint for e in tracer.entries] == [f"/rooms/salle-1{OIDC}/certs"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_claim_equal_to_the_signature_is_masked() -> None:
    signature = _b64(b"s" * 32)
    header = _b64(json.dumps({"alg": "HS256"}).encode())
    claims = _b64(json.dumps({"sub": "x", "echo": signature, "list": [signature]}).encode())
    raw = f"{header}.{claims}.{signature}"
    redacted = RedactedToken.of("access_token", raw)
    assert redacted.claims["sub"] == "x"
    assert redacted.claims["echo"] != signature
    assert redacted.claims["list"] != [signature]
    assert signature not in repr(redacted)
    assert redacted.display.endswith(SIGNATURE)


def test_unreadable_or_empty_tokens_are_opaque() -> None:
    assert RedactedToken.of("code", "abc.def.ghi").display == OPAQUE
    assert RedactedToken.of("code", "not a jwt at all, a long opaque code").header is None
    assert RedactedToken.of("refresh_token", "").display != ""
    # A token that is the opaque mark itself still does not show in its display.
    assert OPAQUE not in RedactedToken.of("code", OPAQUE).display
    hash(RedactedToken.of("access_token", "x"))  # usable in sets, as a frozen value


B64 = "[A-Za-z0-9_-]"
JWT_LIKE = st.from_regex(rf"{B64}{{0,40}}\.{B64}{{0,60}}\.{B64}{{0,40}}", fullmatch=True)
BASE64_JSON = st.builds(
    lambda header, claims, signature: (
        f"{_b64(header.encode())}.{_b64(claims.encode())}.{signature}"
    ),
    st.sampled_from(['{"alg":"none"}', '{"alg":"HS256"}', "[]", "{", '"x"']),
    st.sampled_from(["{}", '{"a":1}', "[1]", "null", "{", '{"a":"' + "b" * 30 + '"}']),
    st.from_regex(rf"{B64}{{0,50}}", fullmatch=True),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.text() | JWT_LIKE | BASE64_JSON)
def test_any_text_is_redacted_without_error(raw: str) -> None:
    redacted = RedactedToken.of("access_token", raw)
    assert redacted.field == "access_token"
    assert isinstance(redacted.display, str)
    if len(raw) > 20:
        assert raw not in redacted.display
        assert raw not in repr(redacted)


JSON_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | JSON_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JSON_TEXT, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=100, deadline=None)
@given(claims=st.dictionaries(JSON_TEXT, JSON_VALUES, max_size=6))
def test_any_signed_jwt_shows_its_claims_and_never_its_signature(claims: dict) -> None:
    raw = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key("k" * 32))
    redacted = RedactedToken.of("id_token", raw)
    assert redacted.claims == claims
    assert redacted.header["alg"] == "HS256"
    assert redacted.display.endswith("." + SIGNATURE)
    signature = raw.rsplit(".", 1)[1]
    for shown in (redacted.display, repr(redacted), str(redacted)):
        assert raw not in shown
        assert signature not in shown
