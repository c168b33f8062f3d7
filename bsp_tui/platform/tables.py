"""The platform's own tables (connectors declare theirs beside their service)."""

from __future__ import annotations

from sqlalchemy import Column, Double, Index, Integer, MetaData, Table, Text

from bsp_tui.platform.db import Schema, Tx

TABLES = MetaData()


def _text(name: str, *, nullable: bool = False, unique: bool = False) -> Column[str]:
    return Column(name, Text, nullable=nullable, unique=unique)


Table(
    "signing_keys",
    TABLES,
    Column("kid", Text, primary_key=True),
    _text("private_pem"),
    Column("created", Double, nullable=False),
    Column("retired", Double),
)
Table(
    "clients",
    TABLES,
    Column("client_id", Text, primary_key=True),
    _text("name"),
    _text("secret_hash", nullable=True),
    _text("redirect_uris"),
    Column("created", Double, nullable=False),
    # OpenID Connect Back-Channel Logout 1.0: where the client hears of a session's end.
    _text("backchannel_logout_uri", nullable=True),
)
Table(
    "personas",
    TABLES,
    Column("name", Text, primary_key=True),
    _text("national_id", unique=True),
    _text("rpps"),
    _text("profile"),
    _text("pin"),
    _text("totp_secret"),
    Column("last_totp_counter", Integer, nullable=False, server_default="0"),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("locked_until", Double, nullable=False, server_default="0"),
    # The seeding order, in which personas are listed.
    Column("seq", Integer, nullable=False, server_default="0"),
)
Table(
    "ecps_activations",
    TABLES,
    Column("code", Text, primary_key=True),
    _text("name"),
    Column("created", Double, nullable=False),
    Column("expires", Double, nullable=False),
    Column("used", Double),
)
Table(
    "ecps_devices",
    TABLES,
    Column("id", Text, primary_key=True),
    _text("name"),
    _text("public_jwk"),
    _text("totp_secret"),
    Column("last_totp_counter", Integer, nullable=False, server_default="0"),
    Column("created", Double, nullable=False),
    Column("revoked", Double),
)
Table(
    "ecps_proofs",
    TABLES,
    Column("jti", Text, primary_key=True),
    Column("expires", Double, nullable=False),
)
Table(
    "ecps_lockouts",
    TABLES,
    Column("name", Text, primary_key=True),
    Column("count", Integer, nullable=False),
)
Table(
    "ecps_requests",
    TABLES,
    Column("id", Text, primary_key=True),
    _text("national_id"),
    _text("binding"),
    _text("client_id"),
    _text("client_name"),
    _text("channel"),
    _text("status"),
    Column("created", Double, nullable=False),
    Column("expires", Double, nullable=False),
    Column("answered", Double),
    Index("ecps_by_person", "national_id", "status"),
    Index("ecps_by_client", "client_id", "created"),
)
Table(
    "pending_grants",
    TABLES,
    Column("handle_hash", Text, primary_key=True),
    _text("kind"),
    _text("client_id"),
    _text("user_code", nullable=True, unique=True),
    _text("request_id", nullable=True),
    _text("national_id", nullable=True),
    _text("scope"),
    _text("acr"),
    _text("nonce", nullable=True),
    _text("redirect_uri", nullable=True),
    _text("state", nullable=True),
    _text("code_challenge", nullable=True),
    _text("code_hash", nullable=True, unique=True),
    Column("interval", Integer, nullable=False),
    Column("last_poll", Double),
    Column("created", Double, nullable=False),
    Column("expires", Double, nullable=False),
    Column("consumed", Integer, nullable=False, server_default="0"),
)
Table(
    "code_sessions",
    TABLES,
    Column("code_hash", Text, primary_key=True),
    _text("sid"),
)
Table(
    "sessions",
    TABLES,
    Column("sid", Text, primary_key=True),
    _text("national_id"),
    _text("client_id"),
    _text("acr"),
    _text("auth_mode"),
    _text("scope"),
    _text("nonce", nullable=True),
    Column("auth_time", Double, nullable=False),
    Column("ended", Double),
    _text("end_reason", nullable=True),
)
Table(
    "refresh_tokens",
    TABLES,
    Column("token_hash", Text, primary_key=True),
    _text("sid"),
    Column("created", Double, nullable=False),
    Column("expires", Double, nullable=False),
    Column("used", Double),
    Index("refresh_by_session", "sid"),
)
Table(
    "revoked_tokens",
    TABLES,
    Column("jti", Text, primary_key=True),
    Column("expires", Double, nullable=False),
)
Table("faults", TABLES, Column("name", Text, primary_key=True), _text("value"))
# The bell topic a change of the faults rings (see `faults.FaultGate`).
FAULTS_TOPIC = "faults"
# The bell topic an end of sessions or a revocation rings (see `tokens.verify_live`).
SESSIONS_TOPIC = "sessions"
# The bell topics a rotation of the signing keys and a reset (the clients a trainer
# added removed) ring.
KEYS_TOPIC = "signing-keys"
CLIENTS_TOPIC = "clients"
Table(
    "patients",
    TABLES,
    Column("ins", Text, primary_key=True),
    _text("oid"),
    _text("family"),
    _text("given"),
    _text("sex"),
    _text("birthdate"),
    _text("birthplace"),
    # The seeding order, in which identities with the same traits are answered.
    Column("seq", Integer, nullable=False, server_default="0"),
    Index("patients_by_traits", "family", "birthdate", "sex"),
)
Table(
    "card_beneficiaries",
    TABLES,
    Column("serial", Text, primary_key=True),
    Column("rank", Integer, primary_key=True),
    _text("ins"),
    _text("regime"),
    Column("rate", Integer, nullable=False),
    _text("exemption"),
    Column("coordinated", Integer, nullable=False),
)
# The aide médicale de l'État's paper admission documents: their holders have no card.
AME_ADMISSIONS = Table(
    "ame_admissions",
    TABLES,
    Column("number", Text, primary_key=True),
    _text("ins"),
    Index("ame_admissions_by_ins", "ins"),
)
Table(
    "idempotency_keys",
    TABLES,
    Column("scope", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    _text("fingerprint"),
    Column("created", Double, nullable=False),
    _text("resource", nullable=True),
    _text("answer", nullable=True),
)


# When the last purge of dead rows ran (bsp_tui.platform.housekeeping).
Table("housekeeping", TABLES, Column("name", Text, primary_key=True), Column("last", Double))


def _seeding_order(tx: Tx) -> None:
    # Version 1 (SQLite only) listed patients and personas by rowid.
    for table in ("patients", "personas"):
        tx.execute(f"ALTER TABLE {table} ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
        tx.execute(f"UPDATE {table} SET seq = rowid")  # noqa: S608 - fixed names


def _nothing_to_change(_: Tx) -> None:
    # Version 3 only adds a table, which opening the schema makes.
    return


def _no_national_status(tx: Tx) -> None:
    # Version 4: an identity's confidence status is the structure's, not INSi's.
    tx.execute("ALTER TABLE patients DROP COLUMN status")


def _ame_without_card(tx: Tx) -> None:
    # Version 5: AME holders have a paper admission document, not a Vitale card; the
    # ones a card carried get their admission, numbered after the card, and lose it.
    tx.create(AME_ADMISSIONS)
    tx.execute(
        "INSERT INTO ame_admissions (number, ins) SELECT 'AME' || serial ||"
        " CASE WHEN rank < 10 THEN '0' ELSE '' END || CAST(rank AS TEXT), ins"
        " FROM card_beneficiaries WHERE exemption = 'AME'"
    )
    tx.execute("DELETE FROM card_beneficiaries WHERE exemption = 'AME'")


def _backchannel_logout(tx: Tx) -> None:
    # Version 6: a client may register a back-channel logout URI.
    tx.execute("ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT")


PLATFORM = Schema(
    "platform",
    6,
    TABLES,
    {
        1: _seeding_order,
        2: _nothing_to_change,
        3: _no_national_status,
        4: _ame_without_card,
        5: _backchannel_logout,
    },
)
