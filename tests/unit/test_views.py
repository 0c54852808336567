"""Admission's in-memory view of Remediations (the storm breaker's count, ledger settling). Plain logic."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from paramedic.policy.views import Remediations, Seen, runbook_key, seen


def remediation(name: str, created: str, *, kind: str = "Runbook", trigger: bool = True, **status: Any) -> Any:
    return {
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
        "spec": {
            "runbookRef": {"kind": kind, "name": "rb"},
            **({"trigger": {"kind": "podCrashLoop"}} if trigger else {}),
        },
        "status": status,
    }


def indexed(*bodies: Any) -> Remediations:
    index: dict[str, list[Seen]] = defaultdict(list)
    for b in bodies:
        for key, value in seen(b).items():
            index[key].append(value)
    view = Remediations()
    view.bind(index)
    return view


def test_keys_match_how_ledgers_name_runbooks() -> None:
    assert set(seen(remediation("a", "2026-11-25T10:00:00Z"))) == {"Runbook/ns/rb"}
    assert set(seen(remediation("a", "2026-11-25T10:00:00Z", kind="ClusterRunbook"))) == {"ClusterRunbook//rb"}
    assert runbook_key("ClusterRunbook", "ns", "rb") == "ClusterRunbook//rb"


def test_failing_counts_recent_automatic_remediations_of_the_runbook() -> None:
    view = indexed(
        remediation("old", "2026-11-25T09:00:00Z"),
        remediation("new", "2026-11-25T10:05:00Z"),
        remediation("newer", "2026-11-25T10:06:00Z", phase="Succeeded"),
        remediation("by-hand", "2026-11-25T10:06:00Z", trigger=False),
    )
    assert view.failing("Runbook/ns/rb", datetime(2026, 11, 25, 10, 0, tzinfo=UTC)) == 2
    assert view.failing("Runbook/ns/other", datetime(2026, 11, 25, 10, 0, tzinfo=UTC)) == 0


def test_find_tells_finished_running_and_unknown_apart() -> None:
    view = indexed(
        remediation("done", "2026-11-25T10:00:00Z", phase="RateLimited", finishedAt="2026-11-25T10:00:01Z"),
        remediation("busy", "2026-11-25T10:00:00Z", phase="Running"),
    )
    done = view.find("Runbook/ns/rb", "ns/done")
    assert done is not None
    assert (done.finished, done.finished_at) == (True, "2026-11-25T10:00:01Z")
    busy = view.find("Runbook/ns/rb", "ns/busy")
    assert busy is not None
    assert not busy.finished
    assert view.find("Runbook/ns/rb", "ns/gone") is None


def test_running_is_what_takes_an_in_flight_place() -> None:
    """Running, automatic or by hand; awaiting approval only when automatic (admitted by its policy): a
    person's request nobody approved changes nothing, and must not let a tenant hold the cluster's places."""
    view = indexed(
        remediation("asking", "2026-11-25T10:00:00Z"),
        remediation("busy", "2026-11-25T10:00:00Z", phase="Running"),
        remediation("admitted", "2026-11-25T10:00:00Z", phase="AwaitingApproval"),
        remediation("by-hand", "2026-11-25T10:00:00Z", trigger=False, phase="Running"),
        remediation("unapproved", "2026-11-25T10:00:00Z", trigger=False, phase="AwaitingApproval"),
        remediation("done", "2026-11-25T10:00:00Z", phase="Succeeded"),
    )
    assert sorted(s.remediation for s in view.running()) == ["ns/admitted", "ns/busy", "ns/by-hand"]
    assert {(s.runbook, s.namespace) for s in view.running()} == {("Runbook/ns/rb", "ns")}
