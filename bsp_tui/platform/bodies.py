"""Every request body, before any endpoint sees it: bounded in size, and strict JSON.

An ASGI middleware, so that no endpoint (PSC, e-CPS, a connector's service, one added
later) can forget it:

- a body larger than its route's cap is refused with 413 before it is read whole
  (a declared `Content-Length` over the cap is refused without reading anything);
- a JSON body (`application/json`, `application/fhir+json`, any `+json`, or any body
  that parses as JSON) must be UTF-8 and hold neither a non-finite number (`NaN`,
  `Infinity`, which JSON does not have but Python's parser accepts) nor a lone
  surrogate (`"\\ud800"`, which no UTF-8 text can carry) nor a NUL character (which
  PostgreSQL cannot store in text): 400, the field at fault named;
- a path or query string with a NUL character is refused 400 as well.

Bodies that are not valid JSON at all are left to the endpoint, which answers them
in its own shape. Services get a FHIR OperationOutcome (the field in `expression`);
the other endpoints an OAuth-style `{"error": "invalid_request", …}`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from starlette.responses import JSONResponse

from connectors.base import DEFAULT_MAX_BODY_BYTES

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_NOT_FINITE = object()  # what the parser hands back for NaN, Infinity and -Infinity


class BodyError(Exception):
    """Why a body is refused: the HTTP status, a French sentence, and the field at fault."""

    def __init__(self, status: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _path(parts: tuple[str | int, ...]) -> str:
    """The field as `a.b[2].c`; a key that is itself bad Unicode written with escapes."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = part.encode("utf-8", "backslashreplace").decode("utf-8")
            text += f".{key}" if text else key
    return text[:200] or "(corps)"


def _walk(value: Any) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every (path, value) of a parsed document, keys included, without recursion."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        where, item = stack.pop()
        yield where, item
        if isinstance(item, dict):
            for key, child in item.items():
                yield (*where, key), key
                stack.append(((*where, key), child))
        elif isinstance(item, list):
            stack.extend(((*where, index), child) for index, child in enumerate(item))


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


def check_json(raw: bytes, declared_json: bool = True) -> None:
    """Refuse (BodyError, 400) a JSON body that is not UTF-8, or holds a non-finite
    number or a lone surrogate; a body that is not JSON at all passes (its endpoint says so).

    A body not declared JSON is checked too when it parses as JSON (some endpoints read
    their body whatever its declared type), but it may be any bytes.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        if not declared_json:
            return
        raise BodyError(
            400, f"Le corps de la requête n'est pas du JSON en UTF-8 valide (octet {error.start})."
        ) from None
    try:
        document = json.loads(text, parse_constant=lambda _: _NOT_FINITE)
    except ValueError:
        return
    except RecursionError:
        raise BodyError(
            400, "Le corps de la requête est un JSON trop profondément imbriqué."
        ) from None
    for where, value in _walk(document):
        if value is _NOT_FINITE:
            raise BodyError(
                400,
                f"{_path(where)} : nombre non fini (NaN, Infinity) refusé.",
                _path(where),
            )
        if isinstance(value, str) and _has_surrogate(value):
            raise BodyError(
                400,
                f"{_path(where)} : texte Unicode invalide (surrogate isolé).",
                _path(where),
            )
        if isinstance(value, str) and "\x00" in value:
            raise BodyError(400, f"{_path(where)} : caractère nul refusé.", _path(where))


def route_path(scope: Scope) -> str:
    """The request's path inside this app: without the `root_path` it is mounted at
    (a room's `/rooms/NAME`), which ASGI keeps at the head of `path`."""
    path: str = scope.get("path", "")
    root = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path


def problem_response(path: str, problem: BodyError) -> JSONResponse:
    """The refusal in the shape of the endpoint that would have answered."""
    if path.startswith("/api/"):
        issue: dict[str, Any] = {
            "severity": "error",
            "code": "too-costly" if problem.status == 413 else "invalid",
            "diagnostics": problem.message,
        }
        if problem.field:
            issue["expression"] = [problem.field]
        body: dict[str, Any] = {"resourceType": "OperationOutcome", "issue": [issue]}
    else:
        body = {"error": "invalid_request", "error_description": problem.message}
        if problem.field:
            body["field"] = problem.field
    return JSONResponse(body, status_code=problem.status)


class BodyGuard:
    """The ASGI middleware: reads each body up to its cap, checks it, then replays it.

    `limits` maps a path prefix to its cap in bytes (the longest prefix wins); other
    paths get `default`.
    """

    def __init__(
        self, app: ASGIApp, limits: dict[str, int], default: int = DEFAULT_MAX_BODY_BYTES
    ) -> None:
        self.app = app
        self.default = default
        self.limits = sorted(limits.items(), key=lambda item: -len(item[0]))

    def limit_for(self, path: str) -> int:
        """The cap of the route at `path`."""
        return next((cap for prefix, cap in self.limits if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        try:
            if "\x00" in path or b"%00" in scope.get("query_string", b"").lower():
                raise BodyError(400, "Adresse invalide : caractère nul refusé.")
            raw = await self._read(scope, receive, self.limit_for(path))
        except BodyError as problem:
            await problem_response(path, problem)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()  # after the body: only http.disconnect can come

        await self.app(scope, replay, send)

    @staticmethod
    async def _read(scope: Scope, receive: Receive, cap: int) -> bytes:
        headers = {key.lower(): value for key, value in scope.get("headers", [])}
        declared = headers.get(b"content-length", b"").decode("latin-1").strip()
        too_large = BodyError(
            413, f"Requête trop volumineuse : au plus {cap // 1024} Kio pour ce service."
        )
        if declared.isdigit() and int(declared) > cap:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if raw:
            check_json(raw, _is_json(content_type))
        return raw
