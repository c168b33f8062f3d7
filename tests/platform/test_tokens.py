"""The tokens PSC issues, and everything that can happen to them afterwards.

Claims of access, ID and API tokens; refresh with rotation and reuse detection;
token exchange per audience; userinfo; introspection; revocation; logout; lifetimes.
"""

from __future__ import annotations

import base64
import hashlib
import json

import httpx
import pytest

from tests.conftest import ISSUER, LAUNCHER, OIDC, TOKEN, Emulation

pytestmark = pytest.mark.anyio

USERINFO = f"{OIDC}/userinfo"
INTROSPECT = f"{OIDC}/token/introspect"
REVOKE = f"{OIDC}/revoke"
LOGOUT = f"{OIDC}/logout"
AUDIENCES = ("ins", "dmp", "eprescription", "fse")
GENERALISTE_ROLE = "10^1.2.250.1.213.1.1.5.5"
API_TTL = 4 * 3600


def claims_of(token: str) -> dict:
    """The payload of a JWT, read without verifying it (the tests verify elsewhere)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def header_of(token: str) -> dict:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def userinfo(emu: Emulation, token: str) -> httpx.Response:
    return await emu.http.get(USERINFO, headers=bearer(token))


async def refresh(emu: Emulation, refresh_token: str) -> httpx.Response:
    return await emu.http.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": LAUNCHER},
    )


RESOURCE_SERVER = "serveur-ressource"


def resource_server(emu: Emulation) -> tuple[str, str]:
    """A confidential client of this platform (a resource server): its id and secret."""
    secret = getattr(emu, "resource_server_secret", None)
    if secret is None:
        secret = emu.platform.clients.add(RESOURCE_SERVER, [])
        emu.resource_server_secret = secret  # type: ignore[attr-defined]
    return RESOURCE_SERVER, secret


async def introspect(emu: Emulation, token: str, client_id: str | None = None) -> httpx.Response:
    """Introspection by the resource server (or by `client_id`, without a secret)."""
    if client_id is not None:
        return await emu.http.post(INTROSPECT, data={"token": token, "client_id": client_id})
    return await emu.http.post(INTROSPECT, data={"token": token}, auth=resource_server(emu))


async def revoke(emu: Emulation, token: str) -> httpx.Response:
    return await emu.http.post(REVOKE, data={"token": token, "client_id": LAUNCHER})


async def api_token(emu: Emulation, access_token: str, audience: str) -> str:
    response = await emu.exchange(access_token, audience)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def me(emu: Emulation, service: str, token: str) -> httpx.Response:
    return await emu.http.get(f"/api/{service}/me", headers=bearer(token))


def assert_oauth_error(response: httpx.Response, status: int, error: str, phrase: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert phrase in response.json()["error_description"]


def assert_outcome(response: httpx.Response, phrase: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "login"
    assert phrase in body["issue"][0]["diagnostics"]
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


# -- claims ------------------------------------------------------------------------


async def test_access_token_claims(emu: Emulation) -> None:
    tokens = await emu.sign_in("generaliste")
    persona = emu.persona("generaliste")
    claims = claims_of(tokens["access_token"])
    assert header_of(tokens["access_token"])["alg"] == "RS256"
    assert header_of(tokens["access_token"])["kid"] == emu.platform.keys.active().kid
    assert claims["iss"] == ISSUER
    assert claims["acr"] == "eidas1"
    assert claims["authMode"] == "MOBILE"
    assert claims["preferred_username"] == persona["national_id"]
    assert claims["otherIds"] == [
        {"identifiant": persona["national_id"], "origine": "RPPS", "qualite": 1}
    ]
    assert claims["sid"] == tokens["session_state"] == claims["session_state"]
    assert claims["azp"] == LAUNCHER
    assert claims["typ"] == "Bearer"
    assert claims["scope"] == "openid scope_all"
    assert "aud" not in claims
    assert claims["exp"] - claims["iat"] == 120
    assert claims["iat"] == int(emu.clock())
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 120


async def test_id_token_claims(emu: Emulation) -> None:
    tokens = await emu.sign_in("generaliste")
    access = claims_of(tokens["access_token"])
    claims = claims_of(tokens["id_token"])
    assert claims["iss"] == ISSUER
    assert claims["aud"] == LAUNCHER
    assert claims["typ"] == "ID"
    assert claims["acr"] == "eidas1"
    assert claims["sub"] == access["sub"]
    assert claims["sid"] == access["sid"]
    assert (claims["given_name"], claims["family_name"]) == ("Élise", "Martin-Dubois")
    assert claims["exp"] - claims["iat"] == 300
    # at_hash (OIDC Core §3.1.3.6): left half of SHA-256 of the access token, base64url.
    digest = hashlib.sha256(tokens["access_token"].encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert claims["at_hash"] == expected


# -- refresh -------------------------------------------------------------------------


async def test_refresh_rotates_the_refresh_token(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    emu.clock.advance(10)
    response = await refresh(emu, tokens["refresh_token"])
    assert response.status_code == 200, response.text
    renewed = response.json()
    assert renewed["refresh_token"] != tokens["refresh_token"]
    assert renewed["access_token"] != tokens["access_token"]
    assert claims_of(renewed["access_token"])["sid"] == claims_of(tokens["access_token"])["sid"]
    assert (await userinfo(emu, renewed["access_token"])).status_code == 200
    # The spent one is refused; the new one rotates again.
    spent = await refresh(emu, tokens["refresh_token"])
    assert_oauth_error(spent, 400, "invalid_grant", "déjà utilisé")


async def test_newest_refresh_token_keeps_rotating(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    current = tokens["refresh_token"]
    seen = {current}
    for _ in range(3):
        response = await refresh(emu, current)
        assert response.status_code == 200, response.text
        current = response.json()["refresh_token"]
        assert current not in seen
        seen.add(current)


async def test_refresh_reuse_ends_the_whole_session(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    renewed = (await refresh(emu, tokens["refresh_token"])).json()
    api = await api_token(emu, renewed["access_token"], "dmp")
    assert (await me(emu, "dmp", api)).status_code == 200

    # A thief (or a racing process) presents the spent token: the session ends.
    reused = await refresh(emu, tokens["refresh_token"])
    assert_oauth_error(reused, 400, "invalid_grant", "déjà utilisé")

    newest = await refresh(emu, renewed["refresh_token"])
    assert_oauth_error(newest, 400, "invalid_grant", "session est terminée")
    refused = await userinfo(emu, renewed["access_token"])
    assert_oauth_error(refused, 401, "invalid_token", "session de ce jeton est terminée")
    assert (await introspect(emu, renewed["access_token"])).json() == {"active": False}
    assert (await introspect(emu, renewed["refresh_token"])).json() == {"active": False}
    assert_outcome(await me(emu, "dmp", api), "session de ce jeton est terminée")


async def test_unknown_refresh_token(emu: Emulation) -> None:
    response = await refresh(emu, "not-a-refresh-token")
    assert_oauth_error(response, 400, "invalid_grant", "inconnu")


async def test_refresh_token_of_another_client_is_refused(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    secret = emu.platform.clients.add("logiciel-cabinet", ["https://cabinet.example/retour"])
    response = await emu.http.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("logiciel-cabinet", secret),
    )
    assert_oauth_error(response, 400, "invalid_grant", "autre logiciel")
    # The refusal did not spend it for its rightful owner.
    assert (await refresh(emu, tokens["refresh_token"])).status_code == 200


# -- token exchange --------------------------------------------------------------------


@pytest.mark.parametrize("audience", AUDIENCES)
async def test_exchange_gives_an_api_token_bound_to_its_service(
    emu: Emulation, audience: str
) -> None:
    tokens = await emu.sign_in("generaliste")
    persona = emu.persona("generaliste")
    response = await emu.exchange(tokens["access_token"], audience)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == API_TTL
    claims = claims_of(body["access_token"])
    assert claims["iss"] == ISSUER
    assert claims["aud"] == audience
    assert claims["typ"] == "Bearer"
    assert claims["SubjectNameID"] == persona["national_id"]
    assert claims["preferred_username"] == persona["national_id"]
    assert (claims["given_name"], claims["family_name"]) == ("Élise", "Martin-Dubois")
    assert claims["SubjectRole"] == [GENERALISTE_ROLE]
    assert claims["profession"]["code"] == "10"
    assert claims["sid"] == claims_of(tokens["access_token"])["sid"]
    assert claims["exp"] - claims["iat"] == API_TTL

    seen = await me(emu, audience, body["access_token"])
    assert seen.status_code == 200, seen.text
    assert seen.json() == {
        "service": audience,
        "national_id": persona["national_id"],
        "given_name": "Élise",
        "family_name": "Martin-Dubois",
        "profession": {"code": "10", "label": "Médecin", "savoir_faire": "SM54"},
        "acr": "eidas1",
        "expires_at": claims["exp"],
    }


@pytest.mark.parametrize("audience", AUDIENCES)
async def test_api_token_is_refused_by_every_other_service(emu: Emulation, audience: str) -> None:
    tokens = await emu.sign_in()
    token = await api_token(emu, tokens["access_token"], audience)
    for other in AUDIENCES:
        if other != audience:
            assert_outcome(await me(emu, other, token), "audience")


async def test_exchange_profession_of_other_personas(emu: Emulation) -> None:
    tokens = await emu.sign_in("pharmacien")
    claims = claims_of(await api_token(emu, tokens["access_token"], "eprescription"))
    assert claims["SubjectRole"] == ["21^1.2.250.1.213.1.1.5.5"]
    assert claims["profession"]["code"] == "21"


async def test_unknown_audience_is_invalid_target(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    response = await emu.exchange(tokens["access_token"], "impots")
    assert_oauth_error(response, 400, "invalid_target", "Audience inconnue")


async def test_an_api_token_cannot_be_exchanged(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    token = await api_token(emu, tokens["access_token"], "ins")
    response = await emu.exchange(token, "dmp")
    assert_oauth_error(response, 400, "invalid_grant", "ne remplace pas le jeton d'accès PSC")
    # Nor is it a PSC access token at userinfo.
    refused = await userinfo(emu, token)
    assert_oauth_error(refused, 401, "invalid_token", "ne remplace pas le jeton d'accès PSC")


async def test_exchange_needs_the_access_token_type(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    response = await emu.http.post(
        TOKEN,
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": tokens["id_token"],
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            "audience": "ins",
            "client_id": LAUNCHER,
        },
    )
    assert_oauth_error(response, 400, "invalid_request", "subject_token de type")


async def test_service_without_token_and_unknown_service(emu: Emulation) -> None:
    missing = await emu.http.get("/api/ins/me")
    assert_outcome(missing, "manquant")
    tokens = await emu.sign_in()
    token = await api_token(emu, tokens["access_token"], "ins")
    unknown = await me(emu, "impots", token)
    assert unknown.status_code == 404
    assert unknown.json()["issue"][0]["code"] == "not-found"
    # A PSC access token is not an API token.
    assert_outcome(await me(emu, "ins", tokens["access_token"]), "audience")


# -- userinfo --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_userinfo_has_the_psc_shapes(emu: Emulation, method: str) -> None:
    tokens = await emu.sign_in("generaliste")
    persona = emu.persona("generaliste")
    response = await emu.http.request(method, USERINFO, headers=bearer(tokens["access_token"]))
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["sub"] == claims_of(tokens["access_token"])["sub"]
    assert info["SubjectNameID"] == persona["national_id"]
    assert info["preferred_username"] == persona["national_id"]
    assert (info["given_name"], info["family_name"]) == ("Élise", "Martin-Dubois")
    assert info["SubjectRole"] == [GENERALISTE_ROLE]
    assert info["SubjectOrganization"] == "Cabinet médical des Tilleuls"
    assert info["SubjectOrganizationID"] == "750123456"
    assert info["otherIds"] == [
        {"identifiant": persona["national_id"], "origine": "RPPS", "qualite": 1}
    ]
    ref = info["SubjectRefPro"]
    assert ref["codeCivilite"] == "MME"
    [exercise] = ref["exercices"]
    assert exercise["codeCiviliteDexercice"] == "DR"
    assert exercise["codeProfession"] == "10"
    assert exercise["codeCategorieProfessionnelle"] == "C"
    assert (exercise["prenomDexercice"], exercise["nomDexercice"]) == ("Élise", "Martin-Dubois")
    assert exercise["codeSavoirFaire"] == "SM54"
    [activity] = exercise["activities"]
    assert activity["raisonSocialeSite"] == "Cabinet médical des Tilleuls"
    assert activity["numeroFinessSite"] == "750123456"
    assert activity["codePostal"] == "75011"
    assert info["Secteur_Activite"] == "SA07^1.2.250.1.71.4.2.4"
    assert info["Palier_Authentification"] == "APPPRIP3^1.2.250.1.213.1.5.1.1.1"
    assert info["Acces_Regulation_Medicale"] == "FAUX"
    assert info["Mode_Acces_Raison"] == ""
    assert info["email_verified"] is False
    assert activity["codeModeExercice"] == "L"


async def test_userinfo_of_the_regulating_urgentiste(emu: Emulation) -> None:
    tokens = await emu.sign_in("urgentiste")
    info = (await emu.http.get(USERINFO, headers=bearer(tokens["access_token"]))).json()
    ref = info["SubjectRefPro"]
    assert (ref["codeCivilite"], ref["exercices"][0]["codeCiviliteDexercice"]) == ("M", "DR")
    assert ref["exercices"][0]["codeSavoirFaire"] == "SM59"
    assert info["Acces_Regulation_Medicale"] == "VRAI"
    assert info["Secteur_Activite"] == "SA01^1.2.250.1.71.4.2.4"


async def test_userinfo_without_a_token(emu: Emulation) -> None:
    response = await emu.http.get(USERINFO)
    assert_oauth_error(response, 401, "invalid_token", "manquant")
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


# -- introspection ------------------------------------------------------------------------


async def test_introspection_of_each_kind_of_token(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    access = claims_of(tokens["access_token"])

    psc = (await introspect(emu, tokens["access_token"])).json()
    assert psc["active"] is True
    assert psc["token_type"] == "Bearer"
    assert psc["client_id"] == LAUNCHER
    assert {key: psc[key] for key in access} == access

    token = await api_token(emu, tokens["access_token"], "fse")
    api = (await introspect(emu, token)).json()
    assert api["active"] is True
    assert api["aud"] == "fse"
    assert api["SubjectRole"] == [GENERALISTE_ROLE]

    refreshing = (await introspect(emu, tokens["refresh_token"])).json()
    assert refreshing == {
        "active": True,
        "token_type": "refresh_token",
        "client_id": LAUNCHER,
        "sub": access["sub"],
        "sid": access["sid"],
        "exp": refreshing["exp"],
    }
    assert refreshing["exp"] == int(emu.clock()) + 10 * 3600


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "", "eyJhbGciOiJub25lIn0.e30."])
async def test_introspection_of_garbage_is_inactive(emu: Emulation, garbage: str) -> None:
    response = await introspect(emu, garbage or "x")
    assert response.status_code == 200
    assert response.json() == {"active": False}


async def test_introspection_of_an_id_token_or_expired_token_is_inactive(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    assert (await introspect(emu, tokens["id_token"])).json() == {"active": False}
    emu.clock.advance(121)
    assert (await introspect(emu, tokens["access_token"])).json() == {"active": False}


async def test_introspection_needs_a_known_client(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    response = await introspect(emu, tokens["access_token"], client_id="nobody")
    assert_oauth_error(response, 401, "invalid_client", "Client inconnu")
    assert tokens["access_token"] not in response.text


async def test_introspection_with_a_wrong_client_secret(emu: Emulation) -> None:
    emu.platform.clients.add("logiciel-cabinet", ["https://cabinet.example/retour"])
    response = await emu.http.post(
        INTROSPECT, data={"token": "x"}, auth=("logiciel-cabinet", "wrong")
    )
    assert_oauth_error(response, 401, "invalid_client", "refusée")


# -- revocation ------------------------------------------------------------------------------


async def test_revoking_an_access_token(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    response = await revoke(emu, tokens["access_token"])
    assert response.status_code == 200
    assert response.content == b""
    refused = await userinfo(emu, tokens["access_token"])
    assert_oauth_error(refused, 401, "invalid_token", "révoqué")
    assert (await introspect(emu, tokens["access_token"])).json() == {"active": False}
    refused_exchange = await emu.exchange(tokens["access_token"], "ins")
    assert_oauth_error(refused_exchange, 400, "invalid_grant", "révoqué")
    # Only that token: the session goes on.
    renewed = await refresh(emu, tokens["refresh_token"])
    assert renewed.status_code == 200
    assert (await userinfo(emu, renewed.json()["access_token"])).status_code == 200


async def test_revoking_an_api_token(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    token = await api_token(emu, tokens["access_token"], "ins")
    assert (await revoke(emu, token)).status_code == 200
    assert_outcome(await me(emu, "ins", token), "révoqué")
    assert (await userinfo(emu, tokens["access_token"])).status_code == 200


async def test_revoking_a_refresh_token_ends_the_session(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    token = await api_token(emu, tokens["access_token"], "dmp")
    assert (await revoke(emu, tokens["refresh_token"])).status_code == 200
    assert_oauth_error(
        await refresh(emu, tokens["refresh_token"]), 400, "invalid_grant", "session est terminée"
    )
    assert_oauth_error(await userinfo(emu, tokens["access_token"]), 401, "invalid_token", "session")
    assert_outcome(await me(emu, "dmp", token), "session de ce jeton est terminée")


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
async def test_revoking_garbage_is_200(emu: Emulation, garbage: str) -> None:
    tokens = await emu.sign_in()
    response = await revoke(emu, garbage)
    assert response.status_code == 200
    assert (await userinfo(emu, tokens["access_token"])).status_code == 200


async def test_revocation_needs_a_known_client(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    response = await emu.http.post(
        REVOKE, data={"token": tokens["refresh_token"], "client_id": "nobody"}
    )
    assert_oauth_error(response, 401, "invalid_client", "Client inconnu")
    assert (await refresh(emu, tokens["refresh_token"])).status_code == 200


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
async def test_only_the_client_a_token_was_issued_to_may_revoke_it(
    emu: Emulation, kind: str
) -> None:
    tokens = await emu.sign_in()
    secret = emu.platform.clients.add("autre-logiciel", ["https://autre.example/cb"])
    response = await emu.http.post(
        REVOKE, data={"token": tokens[kind]}, auth=("autre-logiciel", secret)
    )
    assert_oauth_error(response, 400, "unauthorized_client", "autre logiciel")
    assert (await userinfo(emu, tokens["access_token"])).status_code == 200
    assert (await refresh(emu, tokens["refresh_token"])).status_code == 200


# -- logout ----------------------------------------------------------------------------------


async def _logout(emu: Emulation, method: str, **params: str) -> httpx.Response:
    if method == "GET":
        return await emu.http.get(LOGOUT, params=params)
    return await emu.http.post(LOGOUT, data=params)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_logout_refuses_every_earlier_token(emu: Emulation, method: str) -> None:
    tokens = await emu.sign_in()
    api = {
        audience: await api_token(emu, tokens["access_token"], audience) for audience in AUDIENCES
    }

    response = await _logout(emu, method, id_token_hint=tokens["id_token"])
    assert response.status_code == 200, response.text
    assert "Vous êtes déconnecté" in response.text
    assert tokens["id_token"] not in response.text

    assert_oauth_error(await userinfo(emu, tokens["access_token"]), 401, "invalid_token", "session")
    for audience, token in api.items():
        assert_outcome(await me(emu, audience, token), "session de ce jeton est terminée")
    assert_oauth_error(
        await refresh(emu, tokens["refresh_token"]), 400, "invalid_grant", "session est terminée"
    )
    assert_oauth_error(
        await emu.exchange(tokens["access_token"], "ins"), 400, "invalid_grant", "session"
    )
    assert (await introspect(emu, tokens["access_token"])).json() == {"active": False}


async def test_logout_leaves_other_sessions_alone(emu: Emulation) -> None:
    first = await emu.sign_in("generaliste")
    second = await emu.sign_in("infirmier")
    response = await _logout(emu, "GET", id_token_hint=first["id_token"])
    assert response.status_code == 200
    assert (await userinfo(emu, second["access_token"])).status_code == 200
    assert (await refresh(emu, second["refresh_token"])).status_code == 200


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_logout_redirects_to_a_registered_uri(emu: Emulation, method: str) -> None:
    tokens = await emu.sign_in()
    response = await _logout(
        emu,
        method,
        id_token_hint=tokens["id_token"],
        post_logout_redirect_uri="http://127.0.0.1/callback",
        state="xyz",
    )
    assert response.status_code == 302
    assert response.headers["location"] == "http://127.0.0.1/callback?state=xyz"
    assert (await userinfo(emu, tokens["access_token"])).status_code == 401


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_logout_to_an_unregistered_uri_is_refused(emu: Emulation, method: str) -> None:
    tokens = await emu.sign_in()
    response = await _logout(
        emu,
        method,
        id_token_hint=tokens["id_token"],
        post_logout_redirect_uri="https://evil.example/",
    )
    assert response.status_code == 400
    assert "Adresse de retour non enregistrée" in response.text
    assert "location" not in response.headers
    # A refused request changes nothing: the session is still open.
    assert (await userinfo(emu, tokens["access_token"])).status_code == 200


async def test_an_expired_id_token_is_still_a_logout_hint(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    emu.clock.advance(301)
    response = await _logout(emu, "GET", id_token_hint=tokens["id_token"])
    assert response.status_code == 200, response.text
    assert_oauth_error(
        await refresh(emu, tokens["refresh_token"]), 400, "invalid_grant", "session est terminée"
    )


@pytest.mark.parametrize(
    ("params", "phrase"),
    [
        ({}, "id_token_hint manquant"),
        ({"id_token_hint": "garbage"}, "Jeton refusé : signature invalide"),
        ({"id_token_hint": "a.b.c"}, "Jeton refusé : signature invalide"),
    ],
)
async def test_logout_without_a_valid_hint(emu: Emulation, params: dict, phrase: str) -> None:
    tokens = await emu.sign_in()
    response = await _logout(emu, "GET", **params)
    assert response.status_code == 400
    assert phrase in response.text
    assert (await userinfo(emu, tokens["access_token"])).status_code == 200


async def test_an_access_token_is_not_a_logout_hint(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    response = await _logout(emu, "GET", id_token_hint=tokens["access_token"])
    assert response.status_code == 400
    assert "type de jeton inattendu" in response.text
    assert (await userinfo(emu, tokens["access_token"])).status_code == 200


# -- lifetimes -------------------------------------------------------------------------------


async def test_access_token_expires_after_120_s_but_api_token_and_refresh_live_on(
    emu: Emulation,
) -> None:
    tokens = await emu.sign_in()
    token = await api_token(emu, tokens["access_token"], "ins")
    emu.clock.advance(119)
    assert (await userinfo(emu, tokens["access_token"])).status_code == 200
    emu.clock.advance(2)

    expired = await userinfo(emu, tokens["access_token"])
    assert_oauth_error(expired, 401, "invalid_token", "expiré")
    assert tokens["access_token"] not in expired.text
    assert_oauth_error(
        await emu.exchange(tokens["access_token"], "dmp"), 400, "invalid_grant", "expiré"
    )
    assert (await me(emu, "ins", token)).status_code == 200

    renewed = await refresh(emu, tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert (await userinfo(emu, renewed.json()["access_token"])).status_code == 200


async def test_api_token_expires_after_four_hours(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    token = await api_token(emu, tokens["access_token"], "fse")
    emu.clock.advance(API_TTL - 1)
    assert (await me(emu, "fse", token)).status_code == 200
    emu.clock.advance(2)
    assert_outcome(await me(emu, "fse", token), "expiré")


async def test_refresh_token_expires_after_ten_hours(emu: Emulation) -> None:
    tokens = await emu.sign_in()
    emu.clock.advance(10 * 3600 + 1)
    response = await refresh(emu, tokens["refresh_token"])
    assert_oauth_error(response, 400, "invalid_grant", "expiré")
    assert (await introspect(emu, tokens["refresh_token"])).json() == {"active": False}
