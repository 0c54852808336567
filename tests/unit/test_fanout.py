"""Fan-out decisions (engine.fanout) and the budget of a target set (policy.ratelimit): pure, no cluster.

The passes are walked as the engine walks them, each from the recorded set
alone; an operator killed in a pass loses that pass's write (its record is
the one before), and the walk goes on from the record.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paramedic.actions.base import Done
from paramedic.api.fanout import FINAL_TARGET_PHASES, FanOut, TargetProgress, TargetRef, amount
from paramedic.api.policies import LedgerEntry, RateLimitPolicySpec
from paramedic.engine import fanout
from paramedic.policy.ratelimit import Candidate, decide_batch

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def refs(n: int) -> list[TargetRef]:
    return [TargetRef(api_version="apps/v1", kind="Deployment", name=f"d{i:02d}", namespace="ns") for i in range(n)]


def fan(concurrency: int | str = 1, errors: int | str = 0) -> FanOut:
    return FanOut.model_validate(
        {"kinds": ["Deployment"], "selector": {}, "maxConcurrency": concurrency, "maxErrors": errors}
    )


def test_amounts_are_counts_or_shares_rounded_down() -> None:
    assert amount(3, 10) == 3
    assert amount("3", 10) == 3
    assert amount("10%", 15) == 1
    assert amount("50%", 5) == 2
    assert amount("100%", 7) == 7
    assert fan("10%").concurrency(5) == 1  # a share rounding to 0 still runs one at a time
    assert fan(errors="10%").errors(5) == 0


def test_the_set_is_recorded_sorted_without_duplicates_and_pending() -> None:
    members = list(reversed(refs(3))) + refs(1)
    recorded = fanout.new_set(members)
    assert [t.target.name for t in recorded] == ["d00", "d01", "d02"]
    assert {t.phase for t in recorded} == {"Pending"}


# -- a walk over the passes ---------------------------------------------------------------------


OUTCOMES = st.sampled_from(["ok", "plan-fails", "apply-fails", "verify-fails", "in-progress"])


def one_pass(
    progress: list[TargetProgress], f: FanOut, now: datetime, outcomes: dict[str, str], applied: dict[str, int]
) -> list[TargetProgress]:
    work = fanout.schedule(progress, f, now)
    progress = list(progress)
    for i in work.expire:
        progress[i] = fanout.expired(progress[i], "5m", now)
    for i in work.verify:
        t = progress[i]
        progress[i] = fanout.verified(t, "RolloutComplete", outcomes[t.target.name] != "verify-fails", "", now, MINUTE)
    for i in work.apply:
        t = progress[i]
        applied[t.target.name] = applied.get(t.target.name, 0) + 1
        what = outcomes[t.target.name]
        if what == "apply-fails":
            progress[i], _ = fanout.applied(t, None, now, 2 * MINUTE, failure=("Rejected", "no"))
        elif what == "in-progress" and t.attempts == 0:
            progress[i], _ = fanout.applied(t, fanout.InProgress("later"), now, 2 * MINUTE)
        else:
            progress[i], _ = fanout.applied(t, Done("restarted", {"done": True}), now, 2 * MINUTE)
    for i in work.start:
        t = progress[i]
        if outcomes[t.target.name] == "plan-fails":
            progress[i] = fanout.plan_failed(t, "NotApplicable", "no", now)
        else:
            progress[i] = fanout.planned(t, "restart", {"at": "x"}, t.target, now, 5 * MINUTE, "me#1", False)
    return fanout.skip_rest(progress, f, now)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(OUTCOMES, min_size=1, max_size=12),
    st.integers(min_value=1, max_value=5),
    st.integers(min_value=0, max_value=4),
    st.lists(st.booleans(), max_size=200),
)
def test_a_walk_keeps_every_bound_and_ends_every_target(
    outcomes: list[str], concurrency: int, errors: int, crashes: list[bool]
) -> None:
    """Never more than maxConcurrency in flight; nothing starts once more than maxErrors failed; a target
    whose outcome was recorded is never scheduled again (even when passes are lost to a crash); every target
    ends in a final phase, and the step fails exactly when more than maxErrors failed."""
    f = fan(concurrency, errors)
    members = refs(len(outcomes))
    by_name = {m.name: o for m, o in zip(members, outcomes, strict=True)}
    recorded = fanout.new_set(members)
    applied: dict[str, int] = {}
    now = T0
    finished_at: dict[str, datetime] = {}
    for turn in range(400):
        now += MINUTE
        was_stopped = fanout.stopped(recorded, f)
        work = fanout.schedule(recorded, f, now)
        for i in (*work.apply, *work.verify, *work.start, *work.expire):
            assert recorded[i].phase not in FINAL_TARGET_PHASES
        if was_stopped:
            assert work.start == ()
        after = one_pass(recorded, f, now, by_name, applied)
        in_flight = sum(1 for t in after if t.phase in ("Applying", "Verifying"))
        assert in_flight <= f.concurrency(len(after))
        if turn < len(crashes) and crashes[turn]:
            continue  # killed before the write: the record stays as it was
        for t in after:
            if t.phase in FINAL_TARGET_PHASES:
                finished_at.setdefault(t.target.name, t.finished_at or now)
                assert t.finished_at == finished_at[t.target.name]  # recorded once, never redone
        recorded = after
        if fanout.finished(recorded, f) is not None:
            break
    ended = fanout.finished(recorded, f)
    assert ended is not None, "every walk ends"
    assert all(t.phase in FINAL_TARGET_PHASES for t in recorded)
    failures = sum(1 for t in recorded if t.phase == "Failed")
    assert ended[0] == (failures <= errors)
    if failures <= errors:
        assert not any(t.phase == "Skipped" for t in recorded)


def test_more_than_max_errors_stops_new_targets_and_lets_those_in_flight_finish() -> None:
    f = fan(concurrency=2, errors=0)
    recorded = fanout.new_set(refs(5))
    outcomes = {"d00": "apply-fails", "d01": "ok", "d02": "ok", "d03": "ok", "d04": "ok"}
    applied: dict[str, int] = {}
    now = T0
    while fanout.finished(recorded, f) is None:
        now += MINUTE
        recorded = one_pass(recorded, f, now, outcomes, applied)
    assert [t.phase for t in recorded] == ["Failed", "Succeeded", "Skipped", "Skipped", "Skipped"]
    ok, message = fanout.finished(recorded, f) or (True, "")
    assert not ok
    assert "maxErrors 0" in message
    assert "Deployment/ns/d00" in message
    assert applied == {"d00": 1, "d01": 1}


def test_a_restart_from_any_record_continues_without_redoing_a_finished_target() -> None:
    """Every intermediate record of a walk, taken as the state a new operator starts from, finishes the walk
    without applying a target that was already final in it."""
    f = fan(concurrency=2, errors=1)
    outcomes = {f"d{i:02d}": o for i, o in enumerate(["ok", "apply-fails", "ok", "verify-fails", "ok", "ok"])}
    recorded = fanout.new_set(refs(6))
    now = T0
    snapshots = [(recorded, now)]
    while fanout.finished(recorded, f) is None:
        now += MINUTE
        recorded = one_pass(recorded, f, now, outcomes, {})
        snapshots.append((recorded, now))
    for snapshot, taken in snapshots:
        final = {t.target.name for t in snapshot if t.phase in FINAL_TARGET_PHASES}
        applied: dict[str, int] = {}
        state, later = snapshot, taken
        while fanout.finished(state, f) is None:
            later += MINUTE
            state = one_pass(state, f, later, outcomes, applied)
        assert not final & set(applied)
        assert [t.phase for t in state] == [t.phase for t in recorded]


def test_a_target_past_its_deadline_fails_without_being_applied_again() -> None:
    t = fanout.planned(TargetProgress(target=refs(1)[0]), "restart", {}, refs(1)[0], T0, MINUTE, "me#1", False)
    work = fanout.schedule([t], fan(), T0 + 2 * MINUTE)
    assert work.expire == (0,)
    assert work.apply == ()
    assert fanout.expired(t, "1m", T0 + 2 * MINUTE).reason == "Timeout"


def test_a_dry_run_target_is_final_with_what_it_would_do() -> None:
    t = fanout.planned(TargetProgress(target=refs(1)[0]), "restart d00", {}, refs(1)[0], T0, MINUTE, None, True)
    assert t.phase == "DryRun"
    assert t.message == "dry run: would restart d00"


# -- the budget counts each target ----------------------------------------------------------------


def _policy(max_per_hour: int) -> RateLimitPolicySpec:
    return RateLimitPolicySpec.model_validate(
        {"windows": [{"max": max_per_hour, "per": "1h", "scope": "Runbook"}], "cooldown": "0s"}
    )


def _fanout_candidate(n: int, name: str = "ns/r1") -> Candidate:
    also = tuple((m.describe(), "ns") for m in refs(n))
    return Candidate(remediation=name, runbook="Runbook/ns/rb", target="Pod/ns/p", namespace="ns", also=also)


@pytest.mark.parametrize(("budget", "admitted"), [(4, True), (3, False)])
def test_a_fan_out_spends_one_entry_per_target_all_or_none(budget: int, admitted: bool) -> None:
    ledger, decisions = decide_batch(_policy(budget), [], [_fanout_candidate(4)], T0)
    assert decisions["ns/r1"].admitted is admitted
    assert len(ledger) == (4 if admitted else 0)
    if not admitted:
        assert decisions["ns/r1"].reason == "RateLimitWindow"
        assert "4 more targets asked" in decisions["ns/r1"].message


def test_a_fan_out_admitted_again_after_a_restart_spends_nothing_more() -> None:
    ledger, _ = decide_batch(_policy(10), [], [_fanout_candidate(4)], T0)
    again, decisions = decide_batch(_policy(10), ledger, [_fanout_candidate(4)], T0 + MINUTE)
    assert decisions["ns/r1"].message == "admitted before"
    assert again == ledger
    # A Remediation admitted for its own target (at acceptance) spends its set on top of it.
    plain = Candidate(remediation="ns/r2", runbook="Runbook/ns/rb", target="Pod/ns/p", namespace="ns")
    ledger, _ = decide_batch(_policy(10), [], [plain], T0)
    ledger, decisions = decide_batch(_policy(10), ledger, [_fanout_candidate(4, "ns/r2")], T0)
    assert decisions["ns/r2"].admitted
    assert len(ledger) == 5


def test_the_storm_breakers_absolute_bound_counts_each_target_of_a_set() -> None:
    """maxFailing 3: a Remediation with 2 more targets is 3 acting at once (admitted), with 3 more it is 4."""
    spec = RateLimitPolicySpec.model_validate(
        {"cooldown": "0s", "stormBreaker": {"maxFailing": 3, "maxFailingPercent": 100}}
    )
    for more, admitted in ((2, True), (3, False)):
        candidate = _fanout_candidate(more)
        candidate = dataclasses.replace(candidate, failing=1, targets=10)
        _, decisions = decide_batch(spec, [], [candidate], T0)
        assert decisions["ns/r1"].admitted is admitted
        if not admitted:
            assert decisions["ns/r1"].reason == "StormBreaker"
            assert f"with {more} more targets of its set" in decisions["ns/r1"].message


def test_cooldown_and_in_flight_hold_per_target_of_a_set() -> None:
    """A member of the set remediated within the cooldown refuses the whole set; maxInFlight counts every
    target of a set as one in flight."""
    recent = LedgerEntry(
        remediation="ns/old",
        runbook="Runbook/ns/rb",
        target="Deployment/ns/d02",
        namespace="ns",
        admitted_at=T0 - 3 * MINUTE,
        finished_at=T0 - MINUTE,
    )
    cooling = RateLimitPolicySpec.model_validate({"cooldown": "5m"})
    _, decisions = decide_batch(cooling, [recent], [_fanout_candidate(3)], T0)
    assert decisions["ns/r1"].reason == "Cooldown"
    assert "Deployment/ns/d02" in decisions["ns/r1"].message
    _, decisions = decide_batch(cooling, [recent], [_fanout_candidate(2)], T0)  # d00, d01: not cooling
    assert decisions["ns/r1"].admitted
    bounded = RateLimitPolicySpec.model_validate({"cooldown": "0s", "maxInFlight": {"max": 3, "scope": "Cluster"}})
    ledger, decisions = decide_batch(bounded, [], [_fanout_candidate(3)], T0)
    assert decisions["ns/r1"].admitted
    _, decisions = decide_batch(bounded, ledger, [_fanout_candidate(1, "ns/r2")], T0)
    assert decisions["ns/r2"].reason == "MaxInFlight"
