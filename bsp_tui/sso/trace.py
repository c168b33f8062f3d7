"""The SSO trace: every request of the session's HTTP clients, tokens redacted.

For the trainer's trace panel (and anything else that wants to watch): attach a
`Tracer` to an `httpx.AsyncClient` (a `Session` does it for each client it builds when
given one) and subscribe to its entries. An entry names the step of the flow, the
endpoint (its path, never the query string, where an `id_token_hint` or a code may
travel), the status and the duration. Tokens are kept only redacted: a JWT's header and
claims decoded (without verifying: it is for display) and its signature replaced, an
opaque token (refresh token, code, handle) not shown at all. Nothing else of a request
or an answer is kept: no form, no PIN, no one-time code, no client secret.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc.jws import extract_compact

log = logging.getLogger("bsp.sso.trace")

OPAQUE = "«jeton opaque masqué»"
SIGNATURE = "…signature…"
UNSIGNED = "«sans signature»"
SCRUBBED = "«masqué»"
EMPTY = "«vide»"

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"

DISCOVERY = "discovery"
TOKEN_ENDPOINT = "token_endpoint"  # noqa: S105 - a discovery metadata name

# Fields of a JSON answer that carry a token or a handle worth showing (redacted).
ANSWER_TOKENS = ("access_token", "id_token", "refresh_token", "auth_req_id", "device_code")
# Only this much of an answer is parsed; more is not a token answer.
MAX_JSON = 256 * 1024
_EXTENSION = "bsp_sso_trace"
_ERROR_CODE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}")  # RFC 6749 error charset

_GRANT_STEPS = {
    CIBA_GRANT: "Jeton : attente (CIBA)",
    DEVICE_GRANT: "Jeton : code appareil",
    "authorization_code": "Jeton : code d'autorisation",
    "refresh_token": "Jeton : rafraîchissement",
    "client_credentials": "Jeton : identifiants client",
}
# Discovery metadata names, and the step of a request to each endpoint.
_ENDPOINT_STEPS = {
    DISCOVERY: "Découverte OIDC",
    "authorization_endpoint": "Connexion PSC (navigateur)",
    "backchannel_authentication_endpoint": "CIBA : demande e-CPS",
    "device_authorization_endpoint": "Code appareil : demande",
    "end_session_endpoint": "Déconnexion PSC",
    "introspection_endpoint": "Introspection",
    "jwks_uri": "Clés publiques (JWKS)",
    "revocation_endpoint": "Révocation",
    "userinfo_endpoint": "Userinfo",
}
# Before discovery has been seen: the usual paths (PSC's and Keycloak's shapes).
_ENDPOINT_SUFFIXES = (
    ("/.well-known/wallet-openid-configuration", DISCOVERY),
    ("/.well-known/openid-configuration", DISCOVERY),
    ("/token/introspect", "introspection_endpoint"),
    ("/token", TOKEN_ENDPOINT),
    ("/ext/ciba/auth", "backchannel_authentication_endpoint"),
    ("/auth/device", "device_authorization_endpoint"),
    ("/certs", "jwks_uri"),
    ("/userinfo", "userinfo_endpoint"),
    ("/revoke", "revocation_endpoint"),
    ("/logout", "end_session_endpoint"),
)
# The emulated platform's own routes (the e-CPS phone, the wallet pages, the demo).
_PLATFORM_STEPS = tuple(
    (re.compile(pattern), step)
    for pattern, step in (
        (r"/ecps/requests/[^/]+/answer$", "e-CPS : réponse"),
        (r"/ecps/requests/[^/]+$", "e-CPS : état d'une demande"),
        (r"/ecps/requests$", "e-CPS : demandes en attente"),
        (r"/ecps/personas$", "e-CPS : annuaire"),
        (r"/ecps/devices$", "e-CPS : enrôlement"),
        (r"/wallet/auth/login$", "Connexion PSC : identifiant"),
        (r"/wallet/auth/wait$", "Connexion PSC : attente"),
        (r"/demo/faults(/reset)?$", "Démonstration : pannes"),
        (r"/device$", "Code appareil : saisie"),
    )
)
_SERVICE = re.compile(r"/api/([^/]+)(?:/|$)")


# -- redaction ------------------------------------------------------------------------


def _scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` with every string equal to one of `secrets` replaced."""
    if isinstance(value, dict):
        return {_scrub(k, secrets): _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    if isinstance(value, str) and value in secrets:
        return SCRUBBED
    return value


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class RedactedToken:
    """A token as the trace shows it: decoded when a JWT, never usable as a token.

    Build one with `RedactedToken.of(field, token)`; the token itself is not kept.
    """

    field: str
    header: dict[str, Any] | None = dataclasses.field(default=None, hash=False)
    claims: dict[str, Any] | None = dataclasses.field(default=None, hash=False)
    display: str = OPAQUE

    @classmethod
    def of(cls, name: str, token: str) -> RedactedToken:
        """Redact `token` (found in the field `name`); never raises."""
        if not token:
            return cls(name, None, None, EMPTY)
        try:
            redacted = cls._decoded(name, token)
        except Exception:  # anything unreadable is shown as opaque
            redacted = None
        return redacted or cls._opaque(name, token)

    @classmethod
    def _opaque(cls, name: str, token: str) -> RedactedToken:
        # The display must not contain the token, even a token that looks like it.
        display = next((d for d in (OPAQUE, SCRUBBED, "…") if token not in d), "")
        return cls(name, None, None, display)

    @classmethod
    def _decoded(cls, name: str, token: str) -> RedactedToken | None:
        if token.count(".") != 2:
            return None  # opaque, or a JWE: nothing to show
        compact = extract_compact(token.encode("ascii"))
        header, claims = compact.protected, json.loads(compact.payload)
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return None
        signature = token.rsplit(".", 1)[1]
        secrets = (token, signature) if signature else (token,)
        header, claims = _scrub(header, secrets), _scrub(claims, secrets)
        display = f"{_json(header)}.{_json(claims)}.{SIGNATURE if signature else UNSIGNED}"
        shown = display + repr(header) + repr(claims)
        if token in shown or (len(signature) >= 8 and signature in shown):
            return None
        return cls(name, header, claims, display)


# -- entries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceEntry:
    """One request and its answer, as the trace panel shows it."""

    at: float
    step: str
    method: str
    endpoint: str
    status: int
    duration_ms: float
    tokens: tuple[RedactedToken, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class _Started:
    """What the request hook leaves for the response hook: never a raw token."""

    at: float
    started: float
    kind: str
    step: str
    tokens: tuple[RedactedToken, ...]


def _form(request: httpx.Request) -> dict[str, str]:
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return {}
    try:
        content = request.content
    except httpx.RequestNotRead:
        return {}
    pairs = parse_qs(content.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in pairs.items()}


def _token_step(form: dict[str, str]) -> str:
    grant = form.get("grant_type", "")
    if grant == EXCHANGE_GRANT:
        return f"Jeton : échange → {form.get('audience', '?')[:40]}"
    return _GRANT_STEPS.get(grant, "Jeton : demande")


def _error_code(body: object) -> str:
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict):  # the e-CPS phone API: {"error": {"code", "message"}}
        error = error.get("code")
    return error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else ""


# The virtual phone's and the fault panel's polling: the room's plumbing, not the
# launcher's exchanges with PSC and the services. Matched at the end of the path: a
# platform served under a prefix (a room's `/rooms/NAME`) polls the same.
UNTRACED = frozenset(
    {("GET", "/ecps/requests"), ("GET", "/ecps/personas"), ("GET", "/demo/faults")}
)


def untraced(method: str, path: str) -> bool:
    """True for the polling the trace leaves out."""
    return any(method == m and path.endswith(p) for m, p in UNTRACED)


class Tracer:
    """Records the SSO trace of the clients it is attached to; tells subscribers."""

    def __init__(self, maxlen: int = 500) -> None:
        self.entries: deque[TraceEntry] = deque(maxlen=maxlen)
        self._subscribers: list[Callable[[TraceEntry], None]] = []
        # Endpoint paths learnt from a discovery answer -> their metadata name.
        self._endpoints: dict[str, str] = {}

    def subscribe(self, callback: Callable[[TraceEntry], None]) -> Callable[[], None]:
        """Call `callback` with each new entry; returns a function that unsubscribes."""
        self._subscribers.append(callback)
        return lambda: self.unsubscribe(callback)

    def unsubscribe(self, callback: Callable[[TraceEntry], None]) -> None:
        """Stop calling `callback` (nothing happens when it was not subscribed)."""
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def attach(self, client: httpx.AsyncClient) -> None:
        """Trace every request of `client` (once, however often attached)."""
        hooks = client.event_hooks
        if self._on_request not in hooks["request"]:
            hooks["request"].append(self._on_request)
        if self._on_response not in hooks["response"]:
            hooks["response"].append(self._on_response)

    # -- hooks ------------------------------------------------------------------------

    def _kind(self, path: str) -> str:
        """The endpoint's discovery name, or "" when it is not the provider's."""
        if path in self._endpoints:
            return self._endpoints[path]
        if _SERVICE.search(path):
            return ""
        return next((kind for suffix, kind in _ENDPOINT_SUFFIXES if path.endswith(suffix)), "")

    def _step(self, method: str, path: str, kind: str, form: dict[str, str]) -> str:
        if kind == TOKEN_ENDPOINT:
            return _token_step(form)
        if kind:
            return _ENDPOINT_STEPS.get(kind, kind)
        service = _SERVICE.search(path)
        if service:
            return f"Service {service.group(1)}"
        return next(
            (step for pattern, step in _PLATFORM_STEPS if pattern.search(path)),
            f"Requête {method}",
        )

    async def _on_request(self, request: httpx.Request) -> None:
        if untraced(request.method, request.url.path):
            return
        try:
            path = request.url.path
            kind = self._kind(path)
            form = _form(request) if kind == TOKEN_ENDPOINT else {}
            tokens = []
            if form.get("subject_token") is not None:
                tokens.append(RedactedToken.of("subject_token", form["subject_token"]))
            scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer":
                tokens.append(RedactedToken.of("bearer", credentials.strip()))
            step = self._step(request.method, path, kind, form)
            request.extensions[_EXTENSION] = _Started(
                time.time(), time.perf_counter(), kind, step, tuple(tokens)
            )
        except Exception:  # the trace never breaks the session
            log.warning("Trace SSO : requête non tracée.", exc_info=True)

    async def _on_response(self, response: httpx.Response) -> None:
        started = response.request.extensions.get(_EXTENSION)
        if not isinstance(started, _Started):
            return
        await response.aread()
        try:
            entry = self._entry(response, started)
        except Exception:  # the trace never breaks the session
            log.warning("Trace SSO : réponse non tracée.", exc_info=True)
            return
        self.entries.append(entry)
        for callback in list(self._subscribers):
            try:
                callback(entry)
            except Exception:  # a failing panel must not fail the request
                log.warning("Trace SSO : un abonné a échoué.", exc_info=True)

    def _entry(self, response: httpx.Response, started: _Started) -> TraceEntry:
        duration = (time.perf_counter() - started.started) * 1000
        body = self._json_body(response)
        tokens = list(started.tokens)
        if isinstance(body, dict):
            tokens += [
                RedactedToken.of(name, body[name])
                for name in ANSWER_TOKENS
                if isinstance(body.get(name), str)
            ]
            if started.kind == DISCOVERY and response.status_code == 200:
                self._learn(body)
        return TraceEntry(
            at=started.at,
            step=started.step,
            method=response.request.method,
            endpoint=response.request.url.path,
            status=response.status_code,
            duration_ms=duration,
            tokens=tuple(tokens),
            error=_error_code(body) if 400 <= response.status_code < 500 else "",
        )

    @staticmethod
    def _json_body(response: httpx.Response) -> object:
        if "json" not in response.headers.get("content-type", ""):
            return None
        if len(response.content) > MAX_JSON:
            return None
        try:
            return json.loads(response.content)
        except ValueError:
            return None

    def _learn(self, metadata: dict[str, Any]) -> None:
        """Remember the provider's endpoint paths from its discovery document."""
        for kind in (TOKEN_ENDPOINT, *_ENDPOINT_STEPS):
            url = metadata.get(kind)
            if isinstance(url, str) and url:
                path = urlsplit(url).path
                if path:
                    self._endpoints[path] = kind
