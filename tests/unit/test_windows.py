"""Freeze windows in time zones: offsets, wall-clock hours across DST, windows across midnight, and the
schema's rules (lint rejects what the API server rejects)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from paramedic.api import celrules
from paramedic.api.common import API_VERSION
from paramedic.api.policies import FreezeWindow
from paramedic.lint import lint_document
from paramedic.policy.ratelimit import frozen, weekly

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago"]
instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))
hhmm = st.tuples(st.integers(0, 23), st.integers(0, 59)).map(lambda t: f"{t[0]:02}:{t[1]:02}")


def window(**fields: Any) -> FreezeWindow:
    return FreezeWindow.model_validate(fields)


def test_an_absolute_window_with_offsets() -> None:
    black_friday = window(start="2026-11-27T00:00:00-05:00", end="2026-11-28T00:00:00-05:00")
    assert frozen([black_friday], datetime(2026, 11, 27, 4, 59, tzinfo=UTC)) is None
    assert frozen([black_friday], datetime(2026, 11, 27, 5, 0, tzinfo=UTC)) is black_friday
    assert frozen([black_friday], datetime(2026, 11, 28, 4, 59, tzinfo=UTC)) is black_friday
    assert frozen([black_friday], datetime(2026, 11, 28, 5, 0, tzinfo=UTC)) is None


def test_a_weekly_window_keeps_its_local_hours_across_dst() -> None:
    office = window(days=DAYS, **{"from": "09:00", "to": "17:00"}, timeZone="Europe/Berlin")
    assert weekly(office, datetime(2026, 1, 14, 8, 0, tzinfo=UTC))  # 09:00 CET
    assert not weekly(office, datetime(2026, 1, 14, 16, 0, tzinfo=UTC))  # 17:00 CET
    assert weekly(office, datetime(2026, 7, 14, 7, 0, tzinfo=UTC))  # 09:00 CEST
    assert not weekly(office, datetime(2026, 7, 14, 15, 0, tzinfo=UTC))  # 17:00 CEST
    # New York falls back on 2026-11-01: 01:30 happens twice, both inside a 01:00-02:00 window.
    night = window(days=["Sun"], **{"from": "01:00", "to": "02:00"}, timeZone="America/New_York")
    assert weekly(night, datetime(2026, 11, 1, 5, 30, tzinfo=UTC))  # 01:30 EDT
    assert weekly(night, datetime(2026, 11, 1, 6, 30, tzinfo=UTC))  # 01:30 EST
    assert not weekly(night, datetime(2026, 11, 1, 7, 0, tzinfo=UTC))  # 02:00 EST
    # It springs forward on 2026-03-08: 02:00-03:00 does not exist, the window 02:00-03:00 is empty that day.
    gap = window(days=["Sun"], **{"from": "02:00", "to": "03:00"}, timeZone="America/New_York")
    assert not any(weekly(gap, datetime(2026, 3, 8, 6, 0, tzinfo=UTC) + timedelta(minutes=m)) for m in range(120))


def test_a_window_across_midnight_ends_the_next_day() -> None:
    nights = window(days=["Fri"], **{"from": "22:00", "to": "06:00"}, timeZone="Asia/Kolkata")
    friday = datetime(2026, 11, 27, tzinfo=ZoneInfo("Asia/Kolkata"))  # a Friday
    assert not weekly(nights, friday + timedelta(hours=21, minutes=59))
    assert weekly(nights, friday + timedelta(hours=22))
    assert weekly(nights, friday + timedelta(days=1, hours=5, minutes=59))  # Saturday morning
    assert not weekly(nights, friday + timedelta(days=1, hours=6))
    assert not weekly(nights, friday + timedelta(hours=5))  # Friday morning: Thursday did not start one


@given(now=instants, zone=st.sampled_from(ZONES), start=hhmm, end=hhmm)
def test_a_window_is_decided_by_the_local_wall_clock(now: datetime, zone: str, start: str, end: str) -> None:
    if start == end:
        return
    every_day = window(days=DAYS, **{"from": start, "to": end}, timeZone=zone)
    local = now.astimezone(ZoneInfo(zone)).strftime("%H:%M")
    inside = start <= local < end if start < end else local >= start or local < end
    assert weekly(every_day, now) == inside
    # Across midnight is the complement of the window the other way round.
    assert weekly(window(days=DAYS, **{"from": end, "to": start}, timeZone=zone), now) == (not inside)


@given(now=instants, zone=st.sampled_from(ZONES), start=hhmm, end=hhmm, days=st.sets(st.sampled_from(DAYS)))
def test_a_window_holds_only_on_its_days_or_the_morning_after(
    now: datetime, zone: str, start: str, end: str, days: set[str]
) -> None:
    if start == end or not days:
        return
    w = window(days=sorted(days), **{"from": start, "to": end}, timeZone=zone)
    if weekly(w, now):
        local = now.astimezone(ZoneInfo(zone))
        today, yesterday = DAYS[local.weekday()], DAYS[(local.weekday() - 1) % 7]
        assert today in days or (start > end and yesterday in days)


def test_an_unknown_zone_is_invalid_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="timeZone"):
        window(days=["Mon"], **{"from": "01:00", "to": "02:00"}, timeZone="Mars/Olympus")
    with pytest.raises(ValidationError, match="timeZone"):
        window(days=["Mon"], **{"from": "01:00", "to": "02:00"}, timeZone="not a zone")


@pytest.mark.parametrize(
    ("freeze", "field", "message"),
    [
        ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, ".end", "end must be after start"),
        # 10:00+02:00 is 08:00Z: an end of 09:00Z is after it, though it reads earlier as text.
        ({"start": "2026-01-01T10:00:00+02:00", "end": "2026-01-01T07:59:59Z"}, ".end", "end must be after start"),
        ({"days": ["Mon"], "from": "10:00", "to": "10:00"}, ".to", "from and to must differ"),
        ({"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z", "timeZone": "UTC"}, ".timeZone", "weekly"),
    ],
)
def test_lint_rejects_what_the_schema_rejects(freeze: dict[str, Any], field: str, message: str) -> None:
    found = celrules.check("RateLimitPolicy", {"freezeWindows": [freeze]})
    assert [(v.field, message in v.message) for v in found] == [("spec.freezeWindows[0]" + field, True)]


def test_lint_accepts_an_offset_window_that_ends_after_it_starts() -> None:
    freeze = {"start": "2026-01-01T10:00:00+02:00", "end": "2026-01-01T09:00:00Z"}
    assert celrules.check("RateLimitPolicy", {"freezeWindows": [freeze]}) == []


def test_lint_names_an_unknown_zone() -> None:
    """The API server checks a zone's shape; lint (and the operator, which marks the policy Invalid) checks
    that the zone exists."""
    window = {"days": ["Mon"], "from": "01:00", "to": "02:00", "timeZone": "Mars/Olympus"}
    doc = {"apiVersion": API_VERSION, "kind": "RateLimitPolicy", "metadata": {"name": "p"}}
    [problem] = lint_document("f.yaml", 0, {**doc, "spec": {"freezeWindows": [window]}})
    assert problem.field == "spec.freezeWindows[0].timeZone"
    assert "not an IANA time zone" in problem.message
    offset = {"start": "2026-11-27T00:00:00-05:00", "end": "2026-11-28T00:00:00+01:00"}
    assert lint_document("f.yaml", 0, {**doc, "spec": {"freezeWindows": [offset]}}) == []
