"""The platform's state in SQLite, shared safely by a served and an embedded platform."""

from __future__ import annotations

from pathlib import Path

from bsp_tui.sqlite import DEFAULT_BUSY_SECONDS, SqliteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS signing_keys (
    kid TEXT PRIMARY KEY, private_pem TEXT NOT NULL, created REAL NOT NULL, retired REAL
);
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY, name TEXT NOT NULL, secret_hash TEXT,
    redirect_uris TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS personas (
    name TEXT PRIMARY KEY, national_id TEXT UNIQUE NOT NULL, rpps TEXT NOT NULL,
    profile TEXT NOT NULL, pin TEXT NOT NULL, totp_secret TEXT NOT NULL,
    last_totp_counter INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ecps_activations (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL,
    used REAL
);
CREATE TABLE IF NOT EXISTS ecps_devices (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, public_jwk TEXT NOT NULL,
    totp_secret TEXT NOT NULL, last_totp_counter INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL, revoked REAL
);
CREATE TABLE IF NOT EXISTS ecps_proofs (jti TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ecps_lockouts (name TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ecps_requests (
    id TEXT PRIMARY KEY, national_id TEXT NOT NULL, binding TEXT NOT NULL,
    client_id TEXT NOT NULL, client_name TEXT NOT NULL, channel TEXT NOT NULL,
    status TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL, answered REAL
);
CREATE TABLE IF NOT EXISTS pending_grants (
    handle_hash TEXT PRIMARY KEY, kind TEXT NOT NULL, client_id TEXT NOT NULL,
    user_code TEXT UNIQUE, request_id TEXT, national_id TEXT,
    scope TEXT NOT NULL, acr TEXT NOT NULL, nonce TEXT, redirect_uri TEXT, state TEXT,
    code_challenge TEXT, code_hash TEXT UNIQUE, interval INTEGER NOT NULL,
    last_poll REAL, created REAL NOT NULL, expires REAL NOT NULL,
    consumed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS code_sessions (code_hash TEXT PRIMARY KEY, sid TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY, national_id TEXT NOT NULL, client_id TEXT NOT NULL,
    acr TEXT NOT NULL, auth_mode TEXT NOT NULL, scope TEXT NOT NULL, nonce TEXT,
    auth_time REAL NOT NULL, ended REAL, end_reason TEXT
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY, sid TEXT NOT NULL, created REAL NOT NULL,
    expires REAL NOT NULL, used REAL
);
CREATE TABLE IF NOT EXISTS revoked_tokens (jti TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS faults (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS patients (
    ins TEXT PRIMARY KEY, oid TEXT NOT NULL, family TEXT NOT NULL, given TEXT NOT NULL,
    sex TEXT NOT NULL, birthdate TEXT NOT NULL, birthplace TEXT NOT NULL, status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS patients_by_traits ON patients (family, birthdate, sex);
CREATE TABLE IF NOT EXISTS card_beneficiaries (
    serial TEXT NOT NULL, rank INTEGER NOT NULL, ins TEXT NOT NULL, regime TEXT NOT NULL,
    rate INTEGER NOT NULL, exemption TEXT NOT NULL, coordinated INTEGER NOT NULL,
    PRIMARY KEY (serial, rank)
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, created REAL NOT NULL,
    resource TEXT, answer TEXT, PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS ecps_by_person ON ecps_requests (national_id, status);
CREATE INDEX IF NOT EXISTS ecps_by_client ON ecps_requests (client_id, created);
CREATE INDEX IF NOT EXISTS refresh_by_session ON refresh_tokens (sid);
"""


class Database(SqliteFile):
    """The platform's database: its own schema; connectors add theirs with `ensure_schema`."""

    def __init__(self, path: Path, busy_seconds: float = DEFAULT_BUSY_SECONDS) -> None:
        super().__init__(path, SCHEMA, busy_seconds)
