"""The Alertmanager webhook's body parser: any bytes are a document or a BadBody, nothing else."""

from __future__ import annotations

import contextlib
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paramedic.triggers.alertmanager import BadBody, parse_body


@given(st.binary(max_size=2048))
def test_any_bytes_parse_or_are_refused_as_a_bad_body(body: bytes) -> None:
    with contextlib.suppress(BadBody):
        parse_body(body)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
)


@given(JSON)
def test_well_formed_json_round_trips(value: object) -> None:
    assert parse_body(json.dumps(value).encode()) == value


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "recursion"),
        (b'{"a": 1, "a": 2}', "duplicate keys ['a']"),
        (b'{"x": ' + b"9" * 100_000 + b"}", "digits"),
        (b'{"x": "\xff\xfe"}', "not UTF-8"),
        (b'{"x": 1} {"y": 2}', "Extra data"),
        (b"", "Expecting value"),
    ],
    ids=["deep", "duplicate", "huge-number", "not-utf8", "two-documents", "empty"],
)
def test_malformed_bodies_say_why(body: bytes, why: str) -> None:
    with pytest.raises(BadBody, match=re.escape(why)):
        parse_body(body)
