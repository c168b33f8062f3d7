"""The DMP's page parameters as the service reads them: any text a client sends is a page
or a clear 400, never another error."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bsp_tui.platform.api import ServiceError
from connectors.dmp.models import PAGE_SIZE
from connectors.dmp.params import Page, cursor_after, page

# What the DMP stores: ASCII dates and ids.
ASCII = st.characters(min_codepoint=32, max_codepoint=126)


@given(
    created=st.text(ASCII, max_size=40),
    document_id=st.text(ASCII, max_size=64),
    total=st.integers(min_value=0, max_value=10**9),
)
def test_a_cursor_reads_back_as_the_page_after_its_document(
    created: str, document_id: str, total: int
) -> None:
    asked = page("10", None, cursor_after(created, document_id, total))
    assert asked == Page(10, after=(created, document_id), total=total)


@given(st.text(max_size=300))
def test_any_text_as_a_cursor_is_a_page_or_a_clear_400(cursor: str) -> None:
    try:
        asked = page(None, None, cursor)
    except ServiceError as error:
        assert error.status == 400
        assert error.issue.message.startswith("_cursor illisible")
    else:
        assert asked.size == PAGE_SIZE and asked.after is not None


def _encoded(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),  # not UTF-8
        _encoded({"created": "2026", "id": "A", "total": 3}),
        _encoded(["2026-01-01", "A"]),
        _encoded(["2026-01-01", "A", -1]),
        _encoded(["2026-01-01", "A", 3.0]),
        _encoded(["2026-01-01", "A", True]),
        _encoded(["2026-01-01", 7, 3]),
        _encoded(["2026-01-01", "A", 10**12]),
        _encoded(["2026-01-01", "A" * 65, 3]),
        base64.urlsafe_b64encode(b"[" * 60 + b"]" * 60).decode(),
        base64.urlsafe_b64encode(b"[" * 5000).decode(),  # deeper than the parser goes
        "W" * 10_000,
    ],
)
def test_a_cursor_not_of_the_dmp_is_refused(cursor: str) -> None:
    with pytest.raises(ServiceError) as refused:
        page(None, None, cursor)
    assert refused.value.status == 400
    assert refused.value.issue.code == "value"
    assert "lien next" in refused.value.issue.message


def test_an_offset_and_a_cursor_together_are_refused() -> None:
    with pytest.raises(ServiceError) as refused:
        page("10", "20", cursor_after("2026-01-01", "A", 3))
    assert refused.value.status == 400
    assert refused.value.issue.message.startswith("_offset et _cursor ne vont pas ensemble")
