"""The kernel's OperationOutcome: what one half builds, the other reads back; garbage is None."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from bsp_tui.domain.fhir import Issue, code_in, coding, first_issue, operation_outcome

text = st.text(min_size=0, max_size=40)
word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-", min_size=1, max_size=20)


@given(
    code=word,
    message=text,
    english=text,
    reason=st.one_of(st.just(""), word),
    field=text,
    severity=st.sampled_from(["error", "warning", "information", "fatal"]),
)
def test_an_issue_survives_the_wire(code, message, english, reason, field, severity):
    system = "urn:bsp:test:refusal" if reason else ""
    issue = Issue(code, message, english, reason, system, field, severity)
    body = json.loads(json.dumps(operation_outcome(issue)))
    assert first_issue(body, system) == issue


def test_the_reason_is_read_in_the_named_system_only():
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "forbidden",
                "diagnostics": "Refusé.",
                "details": {"coding": [coding("urn:other", "x"), coding("urn:mine", "blocked")]},
            }
        ],
    }
    assert first_issue(body, "urn:mine").reason == "blocked"
    assert first_issue(body).reason == "x"
    assert first_issue(body, "urn:absent").reason == ""


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    )
)
def test_garbage_is_not_an_outcome_and_never_raises(body):
    issue = first_issue(body)
    assert issue is None or isinstance(issue, Issue)
    if not (isinstance(body, dict) and body.get("resourceType") == "OperationOutcome"):
        assert issue is None


def test_a_malformed_outcome_is_none():
    assert first_issue({"resourceType": "OperationOutcome", "issue": []}) is None
    assert first_issue({"resourceType": "OperationOutcome", "issue": ["x"]}) is None
    assert first_issue({"resourceType": "Patient"}) is None


def test_code_in_reads_a_concept_leniently():
    concept = {"coding": [coding("http://loinc.org", "11488-4", "Compte rendu")]}
    assert code_in(concept, "http://loinc.org") == "11488-4"
    assert code_in(concept, "urn:none") == ""
    assert code_in({"coding": "nope"}, "http://loinc.org") == ""
    assert code_in(None, "x") == ""
