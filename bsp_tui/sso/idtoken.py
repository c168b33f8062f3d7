"""ID token validation: signature (JWKS, refetched once for an unknown key), then claims.

Clocks differ between machines: `exp` and `iat` are checked with a leeway of
LEEWAY seconds, and the launcher's own expiry decisions use the `expires_in`
it was given, counted on its own clock, never the provider's timestamps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.errors import (
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
    MissingKeyError,
)

from bsp_tui.sso.errors import SsoError
from bsp_tui.sso.provider import Provider

LEEWAY = 60
ALGORITHMS = ["RS256", "ES256", "PS256"]


class IdTokenError(SsoError):
    """The ID token cannot be trusted; the sign-in ends."""

    code = "invalid_id_token"


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _reject(reason: str) -> IdTokenError:
    return IdTokenError(f"Connexion interrompue : jeton d'identité refusé ({reason}).")


async def validate_id_token(
    provider: Provider,
    id_token: str,
    nonce: str | None,
    acr: str,
    now: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The claims of a valid ID token from `provider` for its client, or IdTokenError."""
    claims: dict[str, Any] | None = None
    for refresh in (False, True):
        keys = await provider.jwks(refresh=refresh)
        try:
            claims = jwt.decode(id_token, keys, algorithms=ALGORITHMS).claims
            break
        except (InvalidKeyIdError, MissingKeyError):
            continue  # an unknown kid: the provider may have rotated its keys
        except (JoseError, ValueError, TypeError, KeyError, UnicodeError):
            raise _reject("signature invalide ou jeton illisible") from None
    if claims is None:
        raise _reject("signé par une clé inconnue du fournisseur")
    client_id = provider.client_id
    registry = jwt.JWTClaimsRegistry(
        now=lambda: int(now()),
        leeway=LEEWAY,
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise _reject("expiré") from None
    except MissingClaimError as error:
        raise _reject(f"« {error.claim} » manquant") from None
    except JoseError as error:
        claim = getattr(error, "claim", "?")
        if claim == "iat" and _numeric(claims["iat"]) and claims["iat"] > int(now()) + LEEWAY:
            # joserfc refuses a future `iat` itself: say which clock to check.
            raise _reject("émis dans le futur : vérifiez l'horloge de ce poste") from None
        raise _reject(f"« {claim} » inattendu") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if ("azp" in claims or len(audiences) > 1) and claims.get("azp") != client_id:
        raise _reject("« azp » inattendu")
    if nonce is not None and claims.get("nonce") != nonce:
        raise _reject("« nonce » inattendu")
    if acr and claims.get("acr") != acr:
        raise _reject(f"niveau d'authentification {claims.get('acr')!r} au lieu de {acr!r}")
    return claims
