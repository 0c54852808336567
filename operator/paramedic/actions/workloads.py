"""Reading and patching Deployments, StatefulSets and DaemonSets alike."""

from __future__ import annotations

from typing import Any

from paramedic.kube import Clients
from paramedic.kube.kinds import KINDS
from paramedic.kube.kinds import WORKLOADS as WORKLOADS
from paramedic.kube.selectors import to_query

#: Actions that act beside the target (a Job, a cloud resource) accept any target kind.
ANY_KIND = frozenset(
    {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Node", "HorizontalPodAutoscaler"}
)


def read(clients: Clients, kind: str, namespace: str, name: str) -> dict[str, Any]:
    return KINDS[kind].read(clients, name, namespace)


def patch(clients: Clients, kind: str, namespace: str, name: str, body: Any) -> dict[str, Any]:
    return KINDS[kind].patch(clients, name, namespace, body)


def selector_string(workload: dict[str, Any]) -> str:
    """The workload's label selector in the ?labelSelector= form."""
    return to_query(workload["spec"].get("selector") or {})


def pods_of(clients: Clients, workload: dict[str, Any]) -> list[dict[str, Any]]:
    meta = workload["metadata"]
    pods = clients.core.list_namespaced_pod(meta["namespace"], label_selector=selector_string(workload))
    return [clients.plain(p) for p in pods.items]


def desired_replicas(workload: dict[str, Any], kind: str) -> int:
    if kind == "DaemonSet":
        return int(workload.get("status", {}).get("desiredNumberScheduled", 0))
    replicas = workload["spec"].get("replicas")
    return 1 if replicas is None else int(replicas)


def rollout_complete(workload: dict[str, Any], kind: str) -> tuple[bool, str]:
    """The same test as ``kubectl rollout status``."""
    meta, status = workload["metadata"], workload.get("status") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return False, "waiting for the controller to observe the new spec"
    if kind == "DaemonSet":
        want = int(status.get("desiredNumberScheduled", 0))
        updated = int(status.get("updatedNumberScheduled", 0))
        available = int(status.get("numberAvailable", 0))
        ok = updated == want and available == want
        return ok, f"{updated}/{want} updated, {available}/{want} available"
    want = desired_replicas(workload, kind)
    updated = int(status.get("updatedReplicas", 0))
    total = int(status.get("replicas", 0))
    available = int(status.get("availableReplicas", 0) if kind == "Deployment" else status.get("readyReplicas", 0))
    if kind == "StatefulSet" and status.get("currentRevision") != status.get("updateRevision"):
        return False, f"{updated}/{want} pods updated to revision {status.get('updateRevision')}"
    ok = updated == want and total == want and available == want
    return ok, f"{updated}/{want} updated, {available}/{want} available, {total} total"
