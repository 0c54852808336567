"""Paging that gets through: Retry-After parsing, the pace of re-send rounds, the level's severity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from paramedic.api.policies import Channel, SecretKeyRef
from paramedic.escalation import channels
from paramedic.escalation.render import FIELDS, Incident

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert channels.retry_after("120") == 120.0
    assert channels.retry_after(" 3 ") == 3.0
    later = (NOW + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert channels.retry_after(later, now=NOW) == 90.0
    earlier = (NOW - timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert channels.retry_after(earlier, now=NOW) == 0.0
    assert channels.retry_after(None) is None
    assert channels.retry_after("") is None
    assert channels.retry_after("soon") is None
    assert channels.retry_after("-5") is None


@given(
    retries=st.integers(min_value=0, max_value=10_000),
    repeat=st.floats(min_value=1, max_value=86_400),
    asked=st.none() | st.floats(min_value=0, max_value=86_400),
    spread=st.floats(min_value=0.8, max_value=1.2),
)
def test_rounds_are_never_slower_than_the_repeat_nor_sooner_than_asked(
    retries: int, repeat: float, asked: float | None, spread: float
) -> None:
    pace = channels.next_round(retries, repeat, asked, spread)
    assert pace >= (asked or 0.0)
    assert pace <= max(min(channels.ROUND_MAX, repeat) * spread, asked or 0.0)
    assert pace > 0


def test_rounds_back_off_from_seconds_to_minutes() -> None:
    paces = [channels.next_round(n, 3600) for n in range(8)]
    assert paces[0] == channels.ROUND_FIRST
    assert paces == sorted(paces)
    assert paces[-1] == channels.ROUND_MAX


def incident() -> Incident:
    return Incident(fields={name: "x" for name in FIELDS}, links={}, steps=[], resolved=False)


def test_severity_is_the_levels() -> None:
    pd = Channel.model_validate({"name": "pd", "pagerduty": SecretKeyRef(name="k", key="v").model_dump()})
    _, body = channels.request(pd, "KEY", incident(), "uid", "primary", "warning")
    assert body["payload"]["severity"] == "warning"
    hook = Channel.model_validate({"name": "h", "webhook": {"name": "k", "key": "v"}})
    _, body = channels.request(hook, "http://x/y", incident(), "uid", "primary", "info")
    assert body["severity"] == "info"
