"""The DMP's domain tables, and the connector's registration."""

from __future__ import annotations

import json
from dataclasses import asdict, fields

import click
from fastapi import APIRouter

from bsp_tui.platform.db import Database
from bsp_tui.platform.population import ensure_population
from connectors.base import connector_named
from connectors.dmp.models import (
    DOCUMENT_TYPES,
    READABLE_TYPES,
    DocumentInfo,
    loinc_problem,
    mode_problem,
    readable_types,
)


def test_the_seeded_documents_use_the_types_the_dmp_knows(tmp_path) -> None:
    db = Database(tmp_path / "platform.sqlite3")
    ensure_population(db)
    seeded = {
        row["loinc"]: row["title"] for row in db.all("SELECT loinc, title FROM dmp_documents")
    }
    assert seeded == DOCUMENT_TYPES


def test_the_matrix_gives_the_doctor_every_type_and_the_others_less() -> None:
    assert readable_types("21") < readable_types("10") and readable_types("60") < readable_types(
        "10"
    )
    # The arrêté of 26 Oct 2023: the pharmacist reads imaging and hospital stays.
    assert {"18748-4", "34133-9", "11490-0"} <= readable_types("21")
    assert readable_types("10") == frozenset(DOCUMENT_TYPES)
    assert readable_types("SECR") == frozenset()
    assert readable_types("") == frozenset()
    assert all(types <= set(DOCUMENT_TYPES) for types in READABLE_TYPES.values())


def test_client_side_checks_of_mode_reason_and_type() -> None:
    assert mode_problem("normal", None) is None
    assert mode_problem("centre_15", None) is None
    assert mode_problem("bris_de_glace", "Patient inconscient") is None
    assert "exige un motif" in (mode_problem("bris_de_glace", "  ") or "")
    assert "inconnu" in (mode_problem("urgence", None) or "")
    assert "500 caractères" in (mode_problem("bris_de_glace", "x" * 501) or "")
    assert loinc_problem("11488-4") is None
    assert "11488-4 (Compte rendu de consultation)" in (loinc_problem("11488") or "")


def test_the_connector_declares_its_service_and_its_commands() -> None:
    dmp = connector_named("dmp")
    assert dmp is not None
    assert isinstance(dmp.load_service(), APIRouter)
    group = dmp.load_cli()
    assert isinstance(group, click.Group)
    assert set(group.commands) == {
        "list",
        "show",
        "add",
        "history",
        "authorize",
        *("mask", "unmask", "archive", "unarchive", "delete"),
        *("hide-from-patient", "show-to-patient", "hide-from-legal", "show-to-legal"),
    }


def test_a_document_s_json_is_every_field_in_order_and_plain_data() -> None:
    info = DocumentInfo(
        id="D1",
        ins="1",
        loinc="11488-4",
        type_label="CR",
        title="t",
        date="2026-01-01",
        author_id="810000012301",
        author_name="Dr",
        content_type="text/plain",
        size=3,
        labels=("MASQUE_PS", "INVISIBLE_PATIENT"),
        archived=True,
    )
    shape = info.as_json()
    assert list(shape) == [f.name for f in fields(DocumentInfo)]
    assert shape == asdict(info) | {"labels": ["MASQUE_PS", "INVISIBLE_PATIENT"]}
    assert json.loads(json.dumps(shape)) == shape  # a list, not a tuple: the same back
    shape["labels"].append("x")
    assert info.labels == ("MASQUE_PS", "INVISIBLE_PATIENT")  # a copy, not the record's
