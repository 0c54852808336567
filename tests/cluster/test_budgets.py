"""In-flight bounds on the control plane: a Cluster bound holds across policies, and a Remediation created
by hand takes a place (it is never refused: a person decided)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from paramedic.api.common import GROUP, VERSION
from paramedic.api.remediation import TERMINAL_PHASES
from paramedic_dev import simulate
from tests.cluster.test_safety import policy
from tests.cluster.test_triggers import pods, remediations
from tests.kit import Kit, gated_job
from tests.waiting import wait_until

#: Held open once admitted: nobody of that name approves (AwaitingApproval counts as in flight).
HELD = {"requiresApproval": True, "approvers": {"users": ["nobody-approves"]}}
SETTLED = (*TERMINAL_PHASES, "AwaitingApproval", "Running")


def bounded(paramedic: Kit, name: str, in_flight: dict[str, Any]) -> str:
    return policy(
        paramedic,
        name,
        {
            "windows": [{"max": 50, "per": "1h"}],
            "cooldown": "0s",
            "maxInFlight": in_flight,
            "stormBreaker": {"enabled": False},
        },
    )


def crash_runbook(paramedic: Kit, app: str, budget: str, **extra: Any) -> str:
    return paramedic.runbook(
        {
            "trigger": {"podCrashLoop": {"minRestarts": 1}},
            "target": {"selector": {"matchLabels": {"app": app}}},
            "rateLimitPolicyRef": {"name": budget},
            "steps": [{"deletePod": {}}],
            **extra,
        },
        name=f"{app}-crash",
    )


def decided(paramedic: Kit, runbook: str, count: int) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        found = remediations(paramedic, runbook)
        ready = [r for r in found if (r.get("status") or {}).get("phase") in SETTLED]
        return found if len(ready) == count else None

    return wait_until(done, 90, f"{count} decided remediations of {runbook}")


def quiet(paramedic: Kit) -> None:
    """Wait until nothing of an earlier test runs anywhere in the cluster (a Cluster bound counts it all):
    their namespaces are gone, and with them their Remediations."""

    def settled() -> bool:
        terminating = [n for n in paramedic.clients.core.list_namespace().items if n.status.phase == "Terminating"]
        found = paramedic.clients.custom.list_cluster_custom_object(GROUP, VERSION, "remediations")["items"]
        running = [r for r in found if (r.get("status") or {}).get("phase") in ("Running", "AwaitingApproval")]
        return not terminating and not running

    wait_until(settled, 120, "no earlier test's Remediation running in the cluster")


def crash_all(paramedic: Kit, app: str) -> None:
    for pod in pods(paramedic, app):
        simulate.make_crashloop(paramedic.clients.core, paramedic.namespace, pod.metadata.name, restarts=3)


def test_two_policies_with_cluster_bounds_hold_the_bound_together(paramedic: Kit) -> None:
    """Two policies, each maxInFlight 2 per Cluster; four pods of two runbooks (one per policy) crash:
    two are admitted in all (and held awaiting approval), the other two wait as MaxInFlight."""
    quiet(paramedic)
    left, right = bounded(paramedic, "left", {"max": 2}), bounded(paramedic, "right", {"max": 2})
    paramedic.deploy("lefty", replicas=2)
    paramedic.deploy("righty", replicas=2)
    runbooks = [crash_runbook(paramedic, "lefty", left, **HELD), crash_runbook(paramedic, "righty", right, **HELD)]
    crash_all(paramedic, "lefty")
    crash_all(paramedic, "righty")
    found = [r for runbook in runbooks for r in decided(paramedic, runbook, 2)]
    phases = Counter(r["status"]["phase"] for r in found)
    assert phases == {"AwaitingApproval": 2, "RateLimited": 2}, [r["status"]["message"] for r in found]
    refused = [r for r in found if r["status"]["phase"] == "RateLimited"]
    assert all("already running (maxInFlight 2 per Cluster)" in r["status"]["message"] for r in refused)


def test_a_remediation_created_by_hand_takes_an_in_flight_place(paramedic: Kit) -> None:
    """A person's Remediation is not refused, but while it runs an automatic one in the same namespace, under
    maxInFlight 1 per Namespace, waits. A person's request still awaiting approval takes no place."""
    paramedic.deploy("api", replicas=1)
    api = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}
    asking = paramedic.runbook({**HELD, "steps": [{"scale": {"replicas": 2}}]}, name="asking")
    unapproved = paramedic.remediation(asking, api)
    paramedic.wait_phase(unapproved, "AwaitingApproval")
    slow = paramedic.runbook({"steps": [gated_job(f"gate-{uuid.uuid4().hex[:6]}")]}, name="slow")
    by_hand = paramedic.remediation(slow, api)
    paramedic.wait_phase(by_hand, "Running")

    one = bounded(paramedic, "one-at-a-time", {"max": 1, "scope": "Namespace"})
    paramedic.deploy("worker", replicas=1)
    runbook = crash_runbook(paramedic, "worker", one)
    crash_all(paramedic, "worker")
    [rem] = decided(paramedic, runbook, 1)
    assert rem["status"]["phase"] == "RateLimited"
    # One place taken (by the running one), not two: the request awaiting approval is not counted.
    assert "1 remediations already running (maxInFlight 1 per Namespace)" in rem["status"]["message"]
    assert paramedic.status(by_hand)["phase"] == "Running"  # counted, never refused
