"""Verifications a step can wait for after its action: did the fix take?"""

from __future__ import annotations

from typing import Any

from paramedic.kube import Clients

from . import workloads
from .base import Target

CHECKS = ("RolloutComplete", "PodsHealthy", "NodeReady")


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


def run(check: str, clients: Clients, target: Target) -> tuple[bool, str]:
    if check == "RolloutComplete":
        return rollout_complete(clients, target)
    if check == "PodsHealthy":
        return pods_healthy(clients, target)
    if check == "NodeReady":
        return node_ready(clients, target)
    raise ValueError(f"unknown check {check!r}")
