"""Verifications a step can wait for after its action: did the fix take?"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from paramedic.kube import Clients

from . import workloads
from .target import Target


def _workload(clients: Clients, target: Target) -> dict[str, Any]:
    assert target.namespace is not None
    return workloads.read(clients, target.kind, target.namespace, target.name)


def rollout_complete(clients: Clients, target: Target) -> tuple[bool, str]:
    return workloads.rollout_complete(_workload(clients, target), target.kind)


def pods_healthy(clients: Clients, target: Target) -> tuple[bool, str]:
    """Every pod of the workload is Ready and none is crash-looping."""
    workload = _workload(clients, target)
    want = workloads.desired_replicas(workload, target.kind)
    pods = [p for p in workloads.pods_of(clients, workload) if not p["metadata"].get("deletionTimestamp")]
    ready = 0
    for pod in pods:
        for status in pod.get("status", {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") == "CrashLoopBackOff":
                return False, f"pod {pod['metadata']['name']} container {status['name']} is in CrashLoopBackOff"
        conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions") or []}
        ready += conditions.get("Ready") == "True"
    return ready >= want and len(pods) == want, f"{ready}/{want} pods ready ({len(pods)} pods)"


def node_ready(clients: Clients, target: Target) -> tuple[bool, str]:
    node = clients.plain(clients.core.read_node(target.name))
    conditions = {c["type"]: c for c in node.get("status", {}).get("conditions") or []}
    ready = conditions.get("Ready", {})
    return ready.get("status") == "True", f"Ready={ready.get('status', 'Unknown')} {ready.get('reason', '')}".strip()


#: What each ``verify.check`` of the Step model (``api.runbook.Check``, but None) runs.
CHECKS: dict[str, Callable[[Clients, Target], tuple[bool, str]]] = {
    "RolloutComplete": rollout_complete,
    "PodsHealthy": pods_healthy,
    "NodeReady": node_ready,
}


def run(check: str, clients: Clients, target: Target) -> tuple[bool, str]:
    if check not in CHECKS:
        raise ValueError(f"unknown check {check!r}")
    return CHECKS[check](clients, target)


#: Asks Prometheus for an instant vector (the operator's client: its URL, TLS, token and timeouts); raises
#: with a message safe for a status when it cannot.
Instant = Callable[[str], Sequence[dict[str, Any]]]
#: The name of the PromQL verification in a step's messages.
PROMQL = "PromQL"


def promql(query: str, instant: Instant | None) -> tuple[bool, str]:
    """A PromQL condition holds while its query returns a non-empty result, as an alerting rule's expr;
    an unreachable Prometheus or a failed query does not hold (missing data never verifies a fix)."""
    if instant is None:
        return False, "no Prometheus to ask: set the operator's --prometheus-url or the runbook's prometheus trigger"
    try:
        series = instant(query)
    except Exception as exc:  # the client's messages are safe for a status (status code and reason only)
        return False, f"query failed: {str(exc)[:300]}"
    if not series:
        return False, "the query returns no series (the condition does not hold)"
    value = (series[0].get("value") or [None, "?"])[1]
    more = f" (and {len(series) - 1} more series)" if len(series) > 1 else ""
    return True, f"the query returns value {str(value)[:40]}{more}"
