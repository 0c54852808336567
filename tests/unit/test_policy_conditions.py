"""A RateLimitPolicy's Frozen and StormActive conditions: written on transitions only, never to a healthy
policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from paramedic.api.common import Condition
from paramedic.api.policies import RateLimitPolicySpec
from paramedic.policy.conditions import MISSING, UNREADABLE, Trip, desired, escalation_ready
from paramedic.records import invalid

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FREEZE = {"name": "Black Friday", "start": "2026-11-27T00:00:00-05:00", "end": "2026-11-28T00:00:00-05:00"}


def spec(**fields: object) -> RateLimitPolicySpec:
    return RateLimitPolicySpec.model_validate(fields)


def by_type(conditions: list[Condition] | None) -> dict[str, Condition]:
    assert conditions is not None
    return {c.type: c for c in conditions}


def test_a_healthy_policy_is_never_written() -> None:
    assert desired(spec(), [], NOW, None, 1) is None
    assert desired(spec(freezeWindows=[FREEZE]), [], NOW - timedelta(days=1), None, 1) is None


def test_a_freeze_in_effect_is_said_once_and_cleared_when_it_ends() -> None:
    policy = spec(freezeWindows=[FREEZE])
    first = by_type(desired(policy, [], NOW, None, 3))
    frozen = first["Frozen"]
    assert (frozen.status, frozen.reason, frozen.observed_generation) == ("True", "FreezeWindow", 3)
    assert "'Black Friday' is in effect" in frozen.message
    assert frozen.last_transition_time == NOW
    assert "StormActive" not in first  # absent means False: nothing to say
    assert desired(policy, list(first.values()), NOW + timedelta(hours=1), None, 3) is None  # still frozen: no write
    after = by_type(desired(policy, list(first.values()), NOW + timedelta(days=1), None, 3))["Frozen"]
    assert (after.status, after.reason) == ("False", "NoFreezeWindow")
    assert desired(policy, [after], NOW + timedelta(days=2), None, 3) is None


def test_a_trip_is_active_for_the_breakers_window_and_keeps_its_first_message() -> None:
    policy = spec(stormBreaker={"window": "5m"})
    trip = Trip(NOW, "storm breaker: 12 of 20 targets of Runbook/shop/crash failing at once")
    storm = by_type(desired(policy, [], NOW, trip, 1))["StormActive"]
    assert (storm.status, storm.reason) == ("True", "StormBreakerTripped")
    assert "12 of 20 targets" in storm.message
    assert "window 5m" in storm.message
    later = Trip(NOW + timedelta(minutes=3), "storm breaker: 15 of 20 targets failing at once")
    assert desired(policy, [storm], NOW + timedelta(minutes=4), later, 1) is None  # still tripping: no write
    over = by_type(desired(policy, [storm], NOW + timedelta(minutes=9), later, 1))["StormActive"]
    assert (over.status, over.reason) == ("False", "StormOver")


def test_after_a_restart_a_storm_said_before_holds_for_its_window() -> None:
    policy = spec(stormBreaker={"window": "5m"})
    storm = by_type(desired(policy, [], NOW, Trip(NOW, "storm"), 1))["StormActive"]
    assert desired(policy, [storm], NOW + timedelta(minutes=4), None, 1) is None
    assert by_type(desired(policy, [storm], NOW + timedelta(minutes=6), None, 1))["StormActive"].status == "False"


def test_other_conditions_are_kept() -> None:
    ready = Condition(type="Ready", status="True", reason="Valid", last_transition_time=NOW)
    conditions = by_type(desired(spec(freezeWindows=[FREEZE]), [ready], NOW, None, 1))
    assert conditions["Ready"] == ready


@given(minutes=st.lists(st.integers(0, 60 * 24 * 3), min_size=1, max_size=30))
def test_once_conditions_say_what_holds_nothing_is_written_until_it_changes(minutes: list[int]) -> None:
    """Apply each answer as the API server would: asking again at the same moment never writes."""
    policy = spec(freezeWindows=[FREEZE], stormBreaker={"window": "5m"})
    conditions: list[Condition] = []
    for m in sorted(minutes):
        moment = NOW - timedelta(days=1) + timedelta(minutes=m)
        trip = Trip(moment, "storm") if m % 7 == 0 else None
        new = desired(policy, conditions, moment, trip, 1)
        if new is not None:
            conditions = new
        assert desired(policy, conditions, moment, trip, 1) is None


def test_an_escalation_policy_is_ready_when_every_channel_can_be_sent_to() -> None:
    assert escalation_ready({}) == (True, "Valid", "every channel's Secret key is there")
    ok, reason, message = escalation_ready(
        {"primary": (MISSING, "Secret pd not found"), "chat": (UNREADABLE, "the operator may not read Secret s")}
    )
    assert (ok, reason) == (False, "SecretUnreadable")  # an admin must bind the reader: that is said first
    assert message == (
        "2 channel(s) cannot be sent to: channel chat: the operator may not read Secret s; "
        "channel primary: Secret pd not found"
    )
    assert escalation_ready({"primary": (MISSING, "Secret pd has no key url")})[1] == "SecretMissing"


def test_ready_is_replaced_in_place_and_other_conditions_are_kept() -> None:
    status = {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Frozen", "status": "True"}]}
    new = {"type": "Ready", "status": "True"}
    assert invalid.with_ready(status, new) == [new, {"type": "Frozen", "status": "True"}]
    assert invalid.with_ready({"conditions": [{"type": "Frozen"}]}, new) == [{"type": "Frozen"}, new]
    assert invalid.with_ready(None, new) == [new]
