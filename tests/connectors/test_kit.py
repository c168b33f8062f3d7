"""The connector kit: one error read from any service's answer, its exit code, and the
client factory a connector's command finds in the click context."""

from __future__ import annotations

import json

import click
import httpx
import pytest
from click.testing import CliRunner

from bsp_tui.domain.fhir import FHIR_JSON, Issue, operation_outcome
from bsp_tui.exitcodes import ExitCode
from connectors.dmp.client import DmpError
from connectors.eprescription.client import RxError
from connectors.eprescription.models import REFUSAL_SYSTEM
from connectors.ins.client import InputError
from connectors.kit.cli import client, command, json_option
from connectors.kit.errors import (
    BAD_INPUT,
    FAILURE,
    NOT_ALLOWED,
    NOT_FOUND,
    UNAVAILABLE,
    ConnectorError,
    sentence,
)


def answer(status: int, *issues: Issue) -> httpx.Response:
    return httpx.Response(status, json=operation_outcome(*issues))


@pytest.mark.parametrize(
    ("status", "kind", "exit_code"),
    [
        (400, BAD_INPUT, ExitCode.USAGE),
        (413, BAD_INPUT, ExitCode.USAGE),
        (422, BAD_INPUT, ExitCode.USAGE),
        (403, NOT_ALLOWED, ExitCode.NOT_ALLOWED),
        (409, NOT_ALLOWED, ExitCode.NOT_ALLOWED),
        (404, NOT_FOUND, ExitCode.NOT_FOUND),
        (503, UNAVAILABLE, ExitCode.UNREACHABLE),
        (500, FAILURE, ExitCode.FAILURE),
    ],
)
def test_the_status_gives_the_kind_and_the_exit_code(
    status: int, kind: str, exit_code: ExitCode
) -> None:
    error = ConnectorError.from_response(answer(status, Issue("invalid", "Refusé.")))
    assert (error.kind, error.exit_code, error.status) == (kind, exit_code, status)


def test_the_outcome_gives_the_reasons_code_and_field() -> None:
    issue = Issue("forbidden", "Profession sans accès.", "No access.", "profession", "urn:x", "ins")
    error = DmpError.from_response(answer(403, issue))
    assert isinstance(error, DmpError)
    assert (error.message, error.message_en, error.code, error.field) == (
        "Profession sans accès.",
        "No access.",
        "profession",
        "ins",
    )


def test_the_reason_is_read_in_the_connectors_own_system() -> None:
    other = Issue("conflict", "Déjà délivrée.", reason="elsewhere", system="urn:other")
    own = Issue("conflict", "Déjà délivrée.", reason="already_dispensed", system=REFUSAL_SYSTEM)
    assert RxError.from_response(answer(409, own)).code == "already_dispensed"
    # Not in the service's system: the issue type stands for it.
    assert RxError.from_response(answer(409, other)).code == "conflict"


def test_an_unreadable_answer_is_named_after_the_service() -> None:
    error = DmpError.from_response(httpx.Response(502, text="<html>Bad gateway</html>"))
    assert (error.kind, error.message, error.code) == (FAILURE, "Le DMP a répondu 502.", FAILURE)
    assert error.message_en == error.message


def test_bad_input_before_any_request() -> None:
    error = RxError.bad_input(sentence("la posologie est obligatoire."), field="dosage")
    assert (error.kind, error.status, error.exit_code) == (BAD_INPUT, 0, ExitCode.USAGE)
    assert (error.message, error.field) == ("La posologie est obligatoire.", "dosage")
    refused = InputError("sex", "F ou M")
    assert isinstance(refused, ValueError) and isinstance(refused, ConnectorError)
    assert (refused.field, refused.reason, refused.exit_code) == ("sex", "F ou M", ExitCode.USAGE)


@click.group()
def demo() -> None:
    """A connector's group, as a third party writes it."""


@demo.command("ask")
@json_option
@command
async def ask(as_json: bool) -> None:
    async with client("demo") as http:
        response = await http.get("/refusal")
    raise DmpError.from_response(response)


def served(request: httpx.Request) -> httpx.Response:
    """The service: refuses, in its OperationOutcome."""
    assert request.url.path == "/refusal"
    body = operation_outcome(Issue("forbidden", "Mode non autorisé.", reason="mode_profession"))
    return httpx.Response(403, json=body, headers={"Content-Type": FHIR_JSON})


def factory(audience: str, base_url: str = "", *, signed_in: bool = False) -> httpx.AsyncClient:
    assert (audience, base_url, signed_in) == ("demo", "", False)
    return httpx.AsyncClient(transport=httpx.MockTransport(served), base_url="http://demo.test")


def test_a_command_takes_its_client_from_the_context_and_exits_with_the_errors_code() -> None:
    result = CliRunner().invoke(demo, ["ask", "--json"], obj=factory)
    assert result.exit_code == ExitCode.NOT_ALLOWED
    assert json.loads(result.stdout) == {
        "error": {"code": "mode_profession", "message": "Mode non autorisé."}
    }
    assert result.stderr == "bsp: Mode non autorisé.\n"


def test_a_group_run_outside_bsp_has_no_client() -> None:
    result = CliRunner().invoke(demo, ["ask"])
    assert isinstance(result.exception, RuntimeError)
    assert "client factory" in str(result.exception)
