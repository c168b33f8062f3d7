"""OAuth 2 errors as the token, CIBA and device endpoints answer them."""

from __future__ import annotations

from fastapi.responses import JSONResponse


class OAuthError(Exception):
    """An error answered as `{"error", "error_description"}` (RFC 6749 §5.2).

    The description is shown to people: it never carries the token or code at fault.
    """

    def __init__(
        self, error: str, description: str, status: int = 400, ended_session: str | None = None
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        # The session this refused request ended (a replayed code, a reused refresh
        # token): the token endpoint announces it to its client (back-channel logout).
        self.ended_session = ended_session

    def response(self) -> JSONResponse:
        """The HTTP answer for this error."""
        headers = {"Cache-Control": "no-store"}
        if self.error == "invalid_client":
            # RFC 6749 §5.2: a client authentication failure challenges with Basic.
            headers["WWW-Authenticate"] = 'Basic realm="esante-wallet"'
        elif self.status == 401:
            headers["WWW-Authenticate"] = f'Bearer error="{self.error}"'
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers=headers,
        )
