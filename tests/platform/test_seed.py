"""The seeded population stays the same data, whoever seeds it: patients, Vitale cards and
each DMP with its documents, digested in a fixed order."""

from __future__ import annotations

import hashlib

from bsp_tui.platform.core import Platform
from bsp_tui.platform.population import ensure_population
from bsp_tui.platform.settings import PlatformSettings

# The patients carry no national status since schema 4 (the same people otherwise); the
# DMP's version 2 adds the scenario's médecin traitant and opposition to break-glass.
# Each table's rows in a stable order (never the rowid: only the data counts).
TABLES = {
    "patients": "SELECT ins, oid, family, given, sex, birthdate, birthplace FROM patients"
    " ORDER BY ins",
    "card_beneficiaries": "SELECT * FROM card_beneficiaries ORDER BY serial, rank",
    "ame_admissions": "SELECT * FROM ame_admissions ORDER BY number",
    "dmps": "SELECT * FROM dmps ORDER BY ins",
    "dmp_blocks": "SELECT * FROM dmp_blocks ORDER BY ins, national_id",
    "dmp_documents": "SELECT * FROM dmp_documents ORDER BY id",
    "dmp_treating_doctors": "SELECT * FROM dmp_treating_doctors ORDER BY ins",
    "dmp_emergency_oppositions": "SELECT * FROM dmp_emergency_oppositions ORDER BY ins",
    "dmp_authorizations": "SELECT * FROM dmp_authorizations ORDER BY ins, national_id",
}
COUNTS = {
    "patients": 520,
    "card_beneficiaries": 576,
    "ame_admissions": 15,
    "dmps": 466,
    "dmp_blocks": 9,
    "dmp_documents": 3787,
    "dmp_treating_doctors": 1,
    "dmp_emergency_oppositions": 1,
    "dmp_authorizations": 36,
}
# Recomputed when the AME holders lost their Vitale cards for an admission document
# (chosen by position, not by NIA): the same people and DMPs, fewer cards; and when
# the DMPs gained their médecin traitant and the opposition to break-glass access; and
# when the scenario patients authorised the demonstration professionals (DMP version 3);
# when each document gained its content hash (DMP version 4); and its unique id and
# update flags (DMP version 5); and when the laboratory and the imaging centre became
# organisations, by structure id (DMP version 6).
DIGEST = "6bb62de5c86fb7a12bd43199054b15957a9e8993cf8828fbe34cb38b61c09f82"


def test_the_seeded_population_is_the_same_data(settings: PlatformSettings) -> None:
    platform = Platform.open(settings)
    ensure_population(platform.db)
    digest = hashlib.sha256()
    counts = {}
    for table, sql in TABLES.items():
        rows = platform.db.all(sql)
        counts[table] = len(rows)
        for row in rows:
            digest.update(repr(tuple(row.values())).encode())
    platform.db.close()
    assert counts == COUNTS
    assert digest.hexdigest() == DIGEST
