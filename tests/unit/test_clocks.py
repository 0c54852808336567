"""PromQL ``for`` clocks (paramedic.triggers.clocks): restored after a restart, never early, never a full
``for`` late, and written only on transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from paramedic.api.runbook_status import PendingSeries, RunbookStatus
from paramedic.triggers.clocks import Clocks, series_key

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_series_fires_after_its_for_and_only_transitions_change_the_record() -> None:
    clocks = Clocks()
    hold = timedelta(minutes=10)
    assert clocks.observe([], T0, hold) == []
    assert clocks.records() == []
    assert clocks.observe(["a=1"], T0, hold) == []
    started = clocks.records()
    assert started == [{"series": "a=1", "since": "2026-01-01T00:00:00.000000Z"}]
    assert clocks.observe(["a=1"], T0 + timedelta(minutes=5), hold) == []
    assert clocks.records() == started  # still pending: nothing to write
    assert clocks.observe(["a=1"], T0 + timedelta(minutes=10), hold) == [("a=1", T0)]
    fired = clocks.records()
    assert fired[0]["firedAt"] == "2026-01-01T00:10:00.000000Z"
    assert clocks.observe(["a=1"], T0 + timedelta(minutes=11), hold) == [("a=1", T0)]
    assert clocks.records() == fired  # still firing: nothing to write
    clocks.observe([], T0 + timedelta(minutes=12), hold)
    assert clocks.records() == []  # recovered


def test_nine_of_ten_minutes_before_a_restart_fire_one_minute_after() -> None:
    hold = timedelta(minutes=10)
    before = Clocks()
    before.observe(["a=1"], T0, hold)
    before.observe(["a=1"], T0 + timedelta(minutes=9), hold)
    after = Clocks.restore(RunbookStatus.model_validate({"pendingSeries": before.records()}).dump()["pendingSeries"])
    assert after.observe(["a=1"], T0 + timedelta(minutes=9, seconds=30), hold) == []
    assert after.observe(["a=1"], T0 + timedelta(minutes=10), hold) == [("a=1", T0)]


def test_the_record_is_bounded_to_the_earliest_clocks_and_long_series_by_digest() -> None:
    clocks = Clocks(limit=3)
    for i in range(5):
        clocks.observe([f"s={j}" for j in range(i + 1)], T0 + timedelta(seconds=i), timedelta(hours=1))
    assert [r["series"] for r in clocks.records()] == ["s=0", "s=1", "s=2"]
    assert len(clocks.clocks) == 5  # the others still count, in memory
    long = series_key({"label": "x" * 1000})
    assert long.startswith("sha256:")
    assert len(long) < 300
    PendingSeries(series=long, since="2026-01-01T00:00:00.000000Z")  # fits the status field


def test_a_record_that_does_not_parse_starts_its_series_again() -> None:
    clocks = Clocks.restore([{"series": "a=1", "since": "yesterday"}, {"since": "2026-01-01T00:00:00Z"}])
    assert clocks.clocks == {}


@settings(max_examples=300, deadline=None)
@given(
    hold=st.integers(0, 900),
    interval=st.integers(1, 120),
    start=st.integers(0, 600),
    restart=st.integers(0, 2000),
    downtime=st.integers(0, 1200),
    jitter=st.lists(st.integers(0, 999), min_size=1, max_size=50),
)
def test_restore_and_replay_fire_no_earlier_than_for_and_no_later_than_one_interval_after(
    hold: int, interval: int, start: int, restart: int, downtime: int, jitter: list[int]
) -> None:
    """The condition holds from ``start`` on; the operator evaluates every ``interval`` (plus jitter),
    stops at ``restart`` and comes back ``downtime`` later with only what the status recorded (written
    on every change of the record). It fires no earlier than ``for`` after the true start, and no later
    than one interval after the later of (first seen + for) and the new operator's first evaluation."""
    true_start = T0 + timedelta(seconds=start)
    for_ = timedelta(seconds=hold)
    clocks, persisted, writes = Clocks(), [], 0
    moment, k, first_seen, back = T0, 0, None, T0 + timedelta(seconds=restart + downtime)
    restarted = False
    fired_at = None
    while fired_at is None:
        if not restarted and moment >= T0 + timedelta(seconds=restart):
            clocks, restarted, moment = Clocks.restore(persisted), True, back
        failing = ["job=x"] if moment >= true_start else []
        if failing and first_seen is None:
            first_seen = moment
        if clocks.observe(failing, moment, for_):
            fired_at = moment
        if clocks.records() != persisted:
            persisted, writes = clocks.records(), writes + 1
        moment += timedelta(seconds=interval, milliseconds=jitter[k % len(jitter)])
        k += 1
    assert first_seen is not None
    assert fired_at >= true_start + for_
    latest = max(first_seen + for_, back if restarted else first_seen)
    assert fired_at <= latest + timedelta(seconds=interval, milliseconds=max(jitter))
    assert writes <= 2  # pending started, fired (one write when both happen at once)
