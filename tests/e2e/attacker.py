"""Someone in the room with only the served platform's URL (and, at most, a token stolen
from another application), trying every power the platform must refuse them.

Run as `python -m tests.e2e.attacker URL REQUEST_ID NATIONAL_ID STOLEN_TOKEN`; prints
one JSON object: each attempt's name and the statuses it got. Every loop is bounded.
"""

from __future__ import annotations

import json
import sys

import httpx
from joserfc.jwk import OKPKey

OIDC = "/auth/realms/esante-wallet/protocol/openid-connect"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
PERSONAS = ("generaliste", "urgentiste", "pharmacien", "infirmier", "secretaire")


def attempts(http: httpx.Client, request_id: str, national_id: str, stolen: str) -> dict:
    """Every attempt, with the set of statuses each got."""
    seen: dict[str, set[int]] = {}

    def record(name: str, response: httpx.Response) -> None:
        seen.setdefault(name, set()).add(response.status_code)

    key = OKPKey.generate_key("Ed25519").as_dict(private=False)
    for name in PERSONAS:  # enrol with guessed codes
        for guess in ("AAAA-AAAA-AAAA", "2345-6789-ABCD", ""):
            body = {"persona": name, "code": guess, "public_key": key}
            record("enrol", http.post("/ecps/devices", json=body))
        record("enrol_old_route", http.post(f"/ecps/devices/{name}/enrol"))
    record("list", http.get("/ecps/requests"))
    record("list", http.get("/ecps/requests", params={"national_id": national_id}))
    record("show", http.get(f"/ecps/requests/{request_id}"))
    record("deny", http.post(f"/ecps/requests/{request_id}/answer", json={"approve": False}))
    for pin in range(30):  # six times the lockout threshold
        body = {"approve": True, "pin": f"{pin:04d}", "otp": "000000"}
        record("lock", http.post(f"/ecps/requests/{request_id}/answer", json=body))
    record("fault", http.put("/demo/faults", json={"down": ["dmp"], "latency_ms": 10_000}))
    record("fault", http.post("/demo/faults/reset"))
    record("reset", http.post("/demo/reset"))
    record("personas_with_pins", http.get("/demo/personas"))
    record("register_client", http.post("/demo/clients", json={"client_id": "intrus"}))
    exchange = {
        "grant_type": EXCHANGE,
        "subject_token": stolen,
        "subject_token_type": ACCESS,
        "audience": "dmp",
        "client_id": "bsp-launcher",
    }
    record("exchange", http.post(f"{OIDC}/token", data=exchange))
    introspect = {"token": stolen, "client_id": "bsp-launcher"}
    record("introspect", http.post(f"{OIDC}/token/introspect", data=introspect))
    return {name: sorted(statuses) for name, statuses in seen.items()}


def main() -> None:
    url, request_id, national_id, stolen = sys.argv[1:5]
    with httpx.Client(base_url=url, timeout=15) as http:
        print(json.dumps(attempts(http, request_id, national_id, stolen)))


if __name__ == "__main__":
    main()
