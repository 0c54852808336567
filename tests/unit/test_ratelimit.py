"""Rate-limit arithmetic, freeze windows and escalation causes: plain logic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paramedic.api.policies import FreezeWindow, LedgerEntry, RateLimitPolicySpec, Template
from paramedic.api.runbook import RunbookSpec
from paramedic.escalation.causes import cause
from paramedic.escalation.render import fill, incident
from paramedic.policy.ratelimit import Candidate, decide, decide_batch, frozen, prune

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday
CANDIDATE = Candidate("ns/rem-new", "Runbook/ns/rb", "Pod/ns/p9", "ns")


def stamp(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry(i: int, minutes_ago: float, finished_ago: float | None = None, target: str | None = None) -> LedgerEntry:
    return LedgerEntry(
        remediation=f"ns/rem-{i}",
        runbook="Runbook/ns/rb",
        target=target or f"Pod/ns/p{i}",
        namespace="ns",
        admitted_at=stamp(minutes_ago),
        finished_at=None if finished_ago is None else stamp(finished_ago),
    )


def spec(**fields: Any) -> RateLimitPolicySpec:
    return RateLimitPolicySpec.model_validate(
        {"cooldown": "0s", "maxInFlight": None, "stormBreaker": {"enabled": False}, **fields}
    )


def test_window_counts_only_inside_the_window() -> None:
    policy = spec(windows=[{"max": 2, "per": "10m"}])
    assert decide(policy, [entry(1, 5, 4), entry(2, 15, 14)], CANDIDATE, NOW, failing=1, targets=10).admitted
    refused = decide(policy, [entry(1, 5, 4), entry(2, 9, 8)], CANDIDATE, NOW, failing=1, targets=10)
    assert (refused.phase, refused.reason) == ("RateLimited", "RateLimitWindow")


@given(st.integers(0, 6), st.lists(st.floats(0, 120), max_size=12))
def test_admitted_never_exceeds_the_budget(budget: int, ages: list[float]) -> None:
    """Admitting one by one, at most ``budget`` entries fall in any window of the policy."""
    policy = spec(windows=[{"max": budget, "per": "1h"}])
    ledger: list[LedgerEntry] = []
    for i, age in enumerate(sorted(ages, reverse=True)):
        moment = NOW - timedelta(minutes=age)
        if decide(
            policy, ledger, Candidate(f"ns/r{i}", "Runbook/ns/rb", f"Pod/ns/p{i}", "ns"), moment, failing=1, targets=100
        ).admitted:
            ledger.append(
                LedgerEntry(
                    remediation=f"ns/r{i}",
                    runbook="Runbook/ns/rb",
                    target=f"Pod/ns/p{i}",
                    namespace="ns",
                    admitted_at=moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                )
            )
    times = sorted(e.admitted_at for e in ledger)
    for i, start in enumerate(times):
        assert len([t for t in times[i:] if t - start < timedelta(hours=1)]) <= budget


def test_scopes_are_counted_separately() -> None:
    policy = spec(windows=[{"max": 1, "per": "1h", "scope": "Target"}])
    other_target = [entry(1, 1, 0.5)]
    assert decide(policy, other_target, CANDIDATE, NOW, failing=1, targets=10).admitted
    same_target = [entry(1, 1, 0.5, target="Pod/ns/p9")]
    assert not decide(policy, same_target, CANDIDATE, NOW, failing=1, targets=10).admitted


def test_cooldown_and_in_flight() -> None:
    cooling = decide(spec(cooldown="10m"), [entry(1, 8, 5, target="Pod/ns/p9")], CANDIDATE, NOW, failing=1, targets=10)
    assert cooling.reason == "Cooldown"
    assert "5m00s left" in cooling.message
    busy = decide(spec(maxInFlight={"max": 2}), [entry(1, 1), entry(2, 1)], CANDIDATE, NOW, failing=1, targets=10)
    assert busy.reason == "MaxInFlight"


@pytest.mark.parametrize(("failing", "targets", "trips"), [(2, 10, False), (6, 10, True), (2, 2, False)])
def test_storm_breaker_by_share(failing: int, targets: int, trips: bool) -> None:
    policy = spec(stormBreaker={"maxFailingPercent": 50, "minTargets": 3})
    decision = decide(policy, [], CANDIDATE, NOW, failing=failing, targets=targets)
    assert (decision.reason == "StormBreaker") is trips
    assert decision.escalate is trips


def test_freeze_windows_absolute_and_weekly() -> None:
    absolute = FreezeWindow(start=stamp(10), end=stamp(-10))
    assert frozen([absolute], NOW) is absolute
    weekly = FreezeWindow.model_validate({"days": ["Mon"], "from": "11:00", "to": "13:00"})
    assert frozen([weekly], NOW) is weekly
    assert frozen([weekly], NOW + timedelta(days=1)) is None
    assert frozen([weekly], NOW + timedelta(hours=2)) is None


def test_prune_keeps_what_still_matters() -> None:
    policy = spec(windows=[{"max": 5, "per": "1h"}], cooldown="2h")
    kept = prune(policy, [entry(1, 30, 29), entry(2, 500), entry(3, 300, 100), entry(4, 300, 200)], NOW)
    assert [e.remediation for e in kept] == ["ns/rem-1", "ns/rem-2", "ns/rem-3"]


def test_escalation_causes() -> None:
    runbook = RunbookSpec.model_validate({"steps": [{"rolloutRestart": {}}]})
    assert cause("Failed", "VerificationFailed", runbook) == "VerificationFailed"
    assert cause("Failed", "NoRevision", runbook) == "StepsExhausted"
    assert cause("Failed", "RunbookNotFound", runbook) is None
    assert cause("Skipped", "StormBreaker", runbook) == "StormBreaker"
    assert cause("Skipped", "FreezeWindow", runbook) == "Frozen"
    assert cause("RateLimited", "Cooldown", runbook) == "RateLimited"
    quiet = runbook.model_copy(update={"on_failure": "Fail"})
    assert cause("Failed", "NoRevision", quiet) is None


def test_incident_template() -> None:
    assert fill("{target} down, {typo}", {"target": "api"}) == "api down, {typo}"
    rem = {
        "metadata": {"namespace": "shop", "name": "r1"},
        "spec": {"runbookRef": {"name": "restart"}, "reason": "P0 production down"},
        "status": {
            "targetSummary": "Deployment/shop/api",
            "message": "step 1 failed",
            "steps": [{"index": 0, "name": "restart", "phase": "Failed", "message": "timeout"}],
        },
    }
    text = incident(Template(), rem, "StepsExhausted", "2026-11-23T12:00:00Z", resolved=False).text
    assert text.splitlines()[0] == "INCIDENT: P0 production down"
    assert "START TIME (UTC): 2026-11-23T12:00:00Z" in text
    assert "1. restart: Failed - timeout" in text


@pytest.mark.parametrize(
    ("failing", "targets", "trips"),
    [(1, 1, False), (10, 1, False), (11, 1, True), (1, 2, False), (2, 2, True), (11, 1000, True), (5, 1000, False)],
)
def test_the_default_breaker_can_trip_for_one_or_two_targets(failing: int, targets: int, trips: bool) -> None:
    """The defaults (maxFailing 10, minTargets 2): two targets failing together trip it, and so does a
    runbook that failed more than ten times within the window, whatever its number of targets."""
    decision = decide(RateLimitPolicySpec(), [], CANDIDATE, NOW, failing=failing, targets=targets)
    assert (decision.reason == "StormBreaker") is trips


def test_in_flight_counts_what_runs_elsewhere_once() -> None:
    """Cluster scope: Remediations another policy admitted, or a person created, take places too; one that
    is also in this ledger is counted once."""
    bound = spec(maxInFlight={"max": 2, "scope": "Cluster"}, windows=[{"max": 100, "per": "1h"}])
    other = entry(7, 1).model_copy(update={"remediation": "elsewhere/rem-7", "runbook": "Runbook/elsewhere/rb"})
    _, decisions = decide_batch(bound, [entry(1, 1)], [CANDIDATE], NOW, [other])
    assert decisions[CANDIDATE.remediation].reason == "MaxInFlight"
    assert "2 remediations already running" in decisions[CANDIDATE.remediation].message
    _, decisions = decide_batch(bound, [entry(1, 1)], [CANDIDATE], NOW, [entry(1, 1)])
    assert decisions[CANDIDATE.remediation].admitted
    per_runbook = spec(maxInFlight={"max": 1, "scope": "Runbook"}, windows=[{"max": 100, "per": "1h"}])
    _, decisions = decide_batch(per_runbook, [], [CANDIDATE], NOW, [other])
    assert decisions[CANDIDATE.remediation].admitted  # another runbook's


def test_the_gate_counts_other_policies_admissions_and_manual_remediations_as_running_elsewhere() -> None:
    from types import SimpleNamespace

    from paramedic.policy.gate import Gate
    from tests.unit.test_views import indexed, remediation

    gate = Gate(SimpleNamespace(), "paramedic-system")  # type: ignore[arg-type]
    gate.remediations = indexed(
        remediation("by-hand", "2026-11-25T10:00:00Z", trigger=False, phase="Running"),
        remediation("rem-2", "2026-11-25T10:00:00Z", phase="Succeeded"),
        remediation("rem-3", "2026-11-25T10:00:00Z"),
    )
    gate._unfinished = {
        ("ops", "mine"): [entry(1, 1)],
        # rem-2 has ended since; rem-3 was just admitted (still Pending in the index); rem-4 was deleted
        ("ops", "other"): [entry(2, 1), entry(3, 1), entry(4, 1)],
    }
    assert sorted(e.remediation for e in gate._elsewhere(("ops", "mine"))) == ["ns/by-hand", "ns/rem-3"]


def test_the_default_policy_in_the_docs_is_the_one_the_operator_creates() -> None:
    """docs/safety.md shows the values of the default RateLimitPolicy; they are the model's defaults (the
    suite's cluster runs its own default policy, so the shipped values are held here)."""
    import re
    from pathlib import Path

    import yaml

    text = (Path(__file__).resolve().parents[2] / "docs" / "safety.md").read_text()
    section = text.split("## The default policy", 1)[1]
    shown = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))  # type: ignore[union-attr]
    assert RateLimitPolicySpec.model_validate(shown).dump() == RateLimitPolicySpec().dump()
    assert RateLimitPolicySpec().dump()["maxInFlight"] == {"max": 5, "scope": "Cluster"}


def test_the_breaker_counts_a_storm_s_latest_remediations_before_the_index_shows_them() -> None:
    """The index is fed by a watch, and a driver starts from its create's response, so the latest
    Remediations of a storm ask before the index holds them (the flaky storm-breaker test saw 39 trips
    for 40: the 11th of 50 was counted as the 10th). Each one that asked counts, itself included, once."""
    from types import SimpleNamespace

    from paramedic.api.common import ObjectRef
    from paramedic.policy.access import LoadedRunbook
    from paramedic.policy.gate import Gate, _Waiting
    from tests.unit.test_views import indexed, remediation

    at = "2026-11-23T11:59:00Z"
    gate = Gate(SimpleNamespace(), "paramedic-system", clock=lambda: NOW)  # type: ignore[arg-type]
    gate.targets = SimpleNamespace(count=lambda target, selector: 50)  # type: ignore[assignment]
    gate.remediations = indexed(*(remediation(f"rem-{i}", at) for i in range(1, 10)))  # the index shows 9
    breaker = spec(stormBreaker={"enabled": True, "maxFailingPercent": 20})
    book = RunbookSpec.model_validate({"trigger": {"podCrashLoop": {}}, "steps": [{"deletePod": {}}]})
    loaded = LoadedRunbook("Runbook", "rb", 1, book)

    def asking(name: str) -> _Waiting:
        candidate = Candidate(f"ns/{name}", "Runbook/ns/rb", f"Pod/ns/{name}", "ns")
        return _Waiting(candidate, loaded, ObjectRef(kind="Pod", namespace="ns", name=name), at, True)

    def counted(batch: list[_Waiting]) -> list[Candidate]:
        gate._note_asked(batch, breaker, NOW)
        failing: dict[str, int] = {}
        return [gate._storm(w, breaker, NOW, failing) for w in batch]

    assert [c.failing for c in counted([asking("rem-10")])] == [10]  # itself, not yet in the index
    eleventh = counted([asking("rem-11"), asking("rem-9")])  # rem-9 is in the index too: once
    assert [c.failing for c in eleventh] == [11, 11]
    _, decisions = decide_batch(breaker, [], eleventh[:1], NOW, [])
    assert decisions["ns/rem-11"].reason == "StormBreaker"  # 11 of 50 is more than 20 %
    forgotten = spec(stormBreaker={"enabled": True, "maxFailingPercent": 20, "window": "30s"})
    assert [c.failing for c in counted([asking("rem-12")])] == [12]
    gate._note_asked([], forgotten, NOW)
    assert gate._storm(asking("rem-13"), forgotten, NOW, {}).failing == 1  # older than the window: not counted
