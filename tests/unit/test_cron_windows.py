"""Recurring freeze windows (cron + duration in a time zone): the rule, DST pinned, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from paramedic.api import celrules
from paramedic.api.common import API_VERSION, parse_duration
from paramedic.api.policies import FreezeWindow, RateLimitPolicySpec
from paramedic.lint import lint_document
from paramedic.policy.ratelimit import Candidate, decide, frozen
from paramedic.policy.recurrence import latest_start, recurring

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago"]
EXPRESSIONS = [
    "0 22 * * 5",
    "30 2 * * *",
    "30 1 * * *",
    "*/15 * * * *",
    "0 0 1 * *",
    "15 3 * * 0,3",
    "0 9-17 * * MON-FRI",
]
DURATIONS = ["1m", "15m", "1h", "90m", "24h", "60h"]
instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))


def window(**fields: Any) -> FreezeWindow:
    return FreezeWindow.model_validate(fields)


def test_a_weekend_freeze_from_friday_night() -> None:
    weekend = window(name="weekend", cron="0 22 * * 5", duration="60h", timeZone="Europe/Berlin")
    friday = datetime(2026, 11, 27, tzinfo=ZoneInfo("Europe/Berlin"))  # a Friday, CET (UTC+1)
    assert not recurring(weekend, friday + timedelta(hours=21, minutes=59))
    assert recurring(weekend, friday + timedelta(hours=22))
    assert recurring(weekend, friday + timedelta(days=3, hours=9, minutes=59))  # Monday 09:59
    assert not recurring(weekend, friday + timedelta(days=3, hours=10))  # 60h after Friday 22:00
    assert frozen([weekend], friday + timedelta(days=1)) is weekend


def test_a_start_in_the_hour_dst_skips_happens_when_the_clock_resumes() -> None:
    """New York springs forward on 2026-03-08 at 02:00 to 03:00: 02:30 does not exist that day; the window
    starts at 03:00 EDT (07:00Z), as Debian cron runs such a job, and lasts its full hour."""
    nightly = window(cron="30 2 * * *", duration="1h", timeZone="America/New_York")
    assert not recurring(nightly, datetime(2026, 3, 8, 6, 59, tzinfo=UTC))  # 01:59 EST
    assert latest_start("30 2 * * *", "America/New_York", datetime(2026, 3, 8, 7, 0, tzinfo=UTC)) == datetime(
        2026, 3, 8, 7, 0, tzinfo=UTC
    )
    assert recurring(nightly, datetime(2026, 3, 8, 7, 0, tzinfo=UTC))  # 03:00 EDT
    assert recurring(nightly, datetime(2026, 3, 8, 7, 59, tzinfo=UTC))
    assert not recurring(nightly, datetime(2026, 3, 8, 8, 0, tzinfo=UTC))  # 04:00 EDT
    assert recurring(nightly, datetime(2026, 3, 9, 6, 30, tzinfo=UTC))  # the next day: 02:30 EDT again


def test_a_start_in_the_repeated_hour_happens_once() -> None:
    """New York falls back on 2026-11-01: 01:30 happens twice; the window starts at the first (EDT) only."""
    nightly = window(cron="30 1 * * *", duration="30m", timeZone="America/New_York")
    assert recurring(nightly, datetime(2026, 11, 1, 5, 30, tzinfo=UTC))  # 01:30 EDT
    assert not recurring(nightly, datetime(2026, 11, 1, 6, 0, tzinfo=UTC))  # 01:00 EST
    assert not recurring(nightly, datetime(2026, 11, 1, 6, 30, tzinfo=UTC))  # 01:30 EST: no second start


def _starts(expression: str, zone: str, since: datetime, until: datetime) -> list[datetime]:
    """Every start in [since, until], by forward iteration (cron's own order of events)."""
    found = []
    for start in CronSim(expression, since.astimezone(ZoneInfo(zone))):
        if start.astimezone(UTC) > until:
            return found
        found.append(start.astimezone(UTC))
    return found


@settings(max_examples=300, deadline=None)
@given(
    now=instants,
    zone=st.sampled_from(ZONES),
    expression=st.sampled_from(EXPRESSIONS),
    duration=st.sampled_from(DURATIONS),
)
def test_inside_iff_some_start_is_at_or_before_now_and_ends_after_it(
    now: datetime, zone: str, expression: str, duration: str
) -> None:
    length = parse_duration(duration)
    starts = _starts(expression, zone, now - length - timedelta(days=1), now)
    inside = any(s <= now < s + length for s in starts)
    assert recurring(window(cron=expression, duration=duration, timeZone=zone), now) == inside


def test_an_expression_that_cannot_be_evaluated_freezes() -> None:
    """Fail-safe: never silently unfrozen. (The model refuses such an expression; this is the last line.)"""
    broken = FreezeWindow.model_construct(cron="61 * * * *", duration="1h", time_zone=None, name="broken")
    assert recurring(broken, datetime(2026, 1, 1, tzinfo=UTC))
    spec = RateLimitPolicySpec.model_construct(**{**RateLimitPolicySpec().__dict__, "freeze_windows": [broken]})
    candidate = Candidate("ns/r", "Runbook/ns/rb", "Deployment/ns/d", "ns")
    decision = decide(spec, [], candidate, datetime(2026, 1, 1, tzinfo=UTC), failing=1, targets=1)
    assert (decision.admitted, decision.reason, decision.escalate) == (False, "FreezeWindow", True)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"cron": "61 * * * *", "duration": "1h"}, "cron", "is not a cron expression"),
        ({"cron": "0 22 * * 5; rm", "duration": "1h"}, "cron", "should match pattern"),
        ({"cron": "0 0 22 * * 5", "duration": "1h"}, "cron", "should match pattern"),  # six fields: seconds
        ({"cron": "0 22 * * 5", "duration": "0s"}, "duration", "longer than 0s"),
    ],
)
def test_a_bad_recurrence_is_invalid_naming_the_field(fields: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        window(**fields)
    assert caught.value.errors()[0]["loc"][0] == field


@pytest.mark.parametrize(
    ("freeze", "field", "message"),
    [
        ({"cron": "0 22 * * 5"}, ".duration", "cron and duration go together"),
        ({"cron": "0 22 * * 5", "duration": "0s"}, ".duration", "longer than 0s"),
        ({"duration": "1h", "days": ["Mon"], "from": "01:00", "to": "02:00"}, ".duration", "go together"),
    ],
)
def test_the_schema_refuses_an_incomplete_recurrence(freeze: dict[str, Any], field: str, message: str) -> None:
    found = celrules.check("RateLimitPolicy", {"freezeWindows": [freeze]})
    assert ("spec.freezeWindows[0]" + field, True) in [(v.field, message in v.message) for v in found]


def test_the_schema_refuses_a_recurrence_and_an_absolute_window_in_one() -> None:
    both = {"cron": "0 22 * * 5", "duration": "1h", "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}
    [violation] = celrules.check("RateLimitPolicy", {"freezeWindows": [both]})
    assert violation.message == "a freeze window is either start+end or days+from+to or cron+duration"


def test_lint_names_an_expression_the_schema_lets_through() -> None:
    """The API server checks the shape (five fields of cron's characters); lint and the operator read it."""
    doc = {"apiVersion": API_VERSION, "kind": "RateLimitPolicy", "metadata": {"name": "p"}}
    bad = {"cron": "0 25 * * *", "duration": "1h", "timeZone": "Europe/Berlin"}
    [problem] = lint_document("f.yaml", 0, {**doc, "spec": {"freezeWindows": [bad]}})
    assert problem.field == "spec.freezeWindows[0].cron"
    assert "not a cron expression" in problem.message
    good = {"cron": "0 22 * * FRI", "duration": "60h", "timeZone": "Europe/Berlin"}
    assert lint_document("f.yaml", 0, {**doc, "spec": {"freezeWindows": [good]}}) == []
