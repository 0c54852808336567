"""Batch admission (``decide_batch``): whole batches of candidates decided in one pass. Pure logic.

The model of the operator here is only what persists: the ledger. A batch is
decided from the persisted ledger and then either written (the decisions
stand) or lost (a 409, or a kill -9 before the write): its candidates come
back later, any number of times, as they do after a restart or failover.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from paramedic.api.common import parse_duration
from paramedic.api.policies import LedgerEntry, RateLimitPolicySpec
from paramedic.policy.ratelimit import Candidate, decide_batch, prune

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SCOPES = ("Runbook", "Target", "Namespace", "Cluster")


def candidate(i: int) -> Candidate:
    return Candidate(f"ns{i % 2}/rem-{i}", f"Runbook/ns{i % 2}/rb{i % 3}", f"Pod/ns{i % 2}/p{i % 4}", f"ns{i % 2}")


def key(scope: str, entry: LedgerEntry | Candidate) -> str:
    return {"Runbook": entry.runbook, "Target": entry.target, "Namespace": entry.namespace, "Cluster": ""}[scope]


windows = st.lists(
    st.fixed_dictionaries(
        {"max": st.integers(0, 4), "per": st.sampled_from(["1m", "10m", "1h"]), "scope": st.sampled_from(SCOPES)}
    ),
    min_size=1,
    max_size=3,
)
in_flight = st.none() | st.fixed_dictionaries(
    {"max": st.integers(1, 3), "scope": st.sampled_from(["Runbook", "Namespace", "Cluster"])}
)
step = st.tuples(
    st.integers(0, 90),  # seconds the clock moves on (0: the same instant; up to an hour and a half)
    st.lists(st.integers(0, 11), max_size=8),  # the batch, in arrival order, duplicates allowed
    st.booleans(),  # written (True) or lost before the write (False)
    st.lists(st.integers(0, 11), max_size=3),  # Remediations that finish before this batch
    st.sampled_from([1, 60]),  # the clock's unit for this step: seconds or minutes
    st.lists(st.integers(0, 11), max_size=3, unique=True),  # running elsewhere: another policy's, or by hand
)


def running_elsewhere(i: int) -> LedgerEntry:
    """A Remediation running now that this policy's ledger does not hold (another policy admitted it, or a
    person created it): it takes an in-flight place in its scope all the same."""
    c = candidate(i)
    return LedgerEntry(
        remediation=f"{c.namespace}/other-{i}",
        runbook=c.runbook,
        target=c.target,
        namespace=c.namespace,
        admitted_at="2026-11-23T11:00:00Z",
    )


@settings(max_examples=300, deadline=None)
@given(windows, in_flight, st.lists(step, max_size=25))
def test_no_interleaving_admits_more_than_a_window_allows_or_anyone_twice(
    limits: list[dict[str, object]],
    bound: dict[str, object] | None,
    steps: list[tuple[int, list[int], bool, list[int], int, list[int]]],
) -> None:
    spec = RateLimitPolicySpec.model_validate(
        {"windows": limits, "maxInFlight": bound, "cooldown": "0s", "stormBreaker": {"enabled": False}}
    )
    persisted: list[LedgerEntry] = []
    spends: list[LedgerEntry] = []  # every entry that was ever written: the actions taken
    finished: set[str] = set()
    moment = START
    for advance, batch, written, finishing, unit, others in steps:
        moment += timedelta(seconds=advance * unit)
        stamp = moment.replace(microsecond=0)  # as a ledger time is written
        finished |= {candidate(i).remediation for i in finishing}
        persisted = [
            e.model_copy(update={"finished_at": stamp}) if e.remediation in finished and e.finished_at is None else e
            for e in persisted
        ]
        # A finished Remediation never asks again (its driver stopped); an open one may ask any number of times.
        waiting = [candidate(i) for i in batch if candidate(i).remediation not in finished]
        before = prune(spec, persisted, moment)
        elsewhere = [running_elsewhere(i) for i in others]
        ledger, decisions = decide_batch(spec, before, waiting, moment, elsewhere)
        assert set(decisions) == {c.remediation for c in waiting}
        assert [e.remediation for e in ledger[: len(before)]] == [e.remediation for e in before]
        fresh = ledger[len(before) :]
        assert {e.remediation for e in fresh} <= {r for r, d in decisions.items() if d.admitted}
        for c in waiting:  # what was in the ledger is admitted again, without spending
            if any(e.remediation == c.remediation for e in before):
                assert decisions[c.remediation].admitted
        if not written:
            continue
        persisted = ledger
        spends += fresh
        if bound is not None:
            # Where this batch admitted anyone, its own running ones and those elsewhere stay within the bound
            # (elsewhere alone may exceed it: a person's Remediation is never refused, it only takes a place).
            scope = str(bound["scope"])
            running = [key(scope, e) for e in [*persisted, *elsewhere] if e.finished_at is None]
            assert all(running.count(key(scope, e)) <= int(str(bound["max"])) for e in fresh), "maxInFlight exceeded"

    remediations = [e.remediation for e in spends]
    assert len(remediations) == len(set(remediations)), "a Remediation was admitted twice"
    for limit in spec.windows:
        per = parse_duration(limit.per)
        for last in spends:
            inside = [
                e
                for e in spends
                if key(limit.scope, e) == key(limit.scope, last)
                and last.admitted_at - per < e.admitted_at <= last.admitted_at
            ]
            assert len(inside) <= limit.max, f"{len(inside)} admissions within {limit.per} per {limit.scope}"


def test_a_batch_spends_what_one_by_one_admissions_would() -> None:
    spec = RateLimitPolicySpec.model_validate(
        {"windows": [{"max": 3, "per": "1h"}], "cooldown": "0s", "stormBreaker": {"enabled": False}}
    )
    ledger, decisions = decide_batch(spec, [], [candidate(i * 6) for i in range(10)], START)
    assert [d.admitted for d in decisions.values()] == [True] * 3 + [False] * 7
    assert len(ledger) == 3
    refused = decisions[candidate(54).remediation]
    assert (refused.reason, refused.message) == ("RateLimitWindow", "3 actions in the last 1h per Runbook (max 3)")


def test_a_candidate_twice_in_one_batch_spends_once() -> None:
    spec = RateLimitPolicySpec.model_validate(
        {"windows": [{"max": 5, "per": "1h"}], "stormBreaker": {"enabled": False}}
    )
    ledger, decisions = decide_batch(spec, [], [candidate(1), candidate(1)], START)
    assert len(ledger) == 1
    assert decisions[candidate(1).remediation].admitted


def test_the_storm_breaker_uses_each_candidates_own_counts() -> None:
    spec = RateLimitPolicySpec.model_validate(
        {"windows": [{"max": 50, "per": "1h"}], "stormBreaker": {"maxFailingPercent": 20, "minTargets": 5}}
    )
    calm = Candidate("ns/a", "Runbook/ns/rb", "Pod/ns/a", "ns", failing=1, targets=10)
    stormy = Candidate("ns/b", "Runbook/ns/rb2", "Pod/ns/b", "ns", failing=5, targets=10)
    ledger, decisions = decide_batch(spec, [], [calm, stormy], START)
    assert decisions["ns/a"].admitted
    assert (decisions["ns/b"].reason, decisions["ns/b"].escalate) == ("StormBreaker", True)
    assert [e.remediation for e in ledger] == ["ns/a"]
