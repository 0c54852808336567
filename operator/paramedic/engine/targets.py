"""Reading the target and resolving it to what an action works on.

A crash-looping Pod is what a trigger sees, but a rollout restart acts on the
Deployment that owns it: Pod -> ReplicaSet -> Deployment, or the owning
StatefulSet or DaemonSet. A workload resolves to the HPA that scales it, and
a Pod to its Node, when the action works on those.
"""

from __future__ import annotations

from typing import Any

from paramedic.actions import hpas, workloads
from paramedic.actions.base import Target
from paramedic.api.common import ObjectRef
from paramedic.api.remediation import ResolvedTarget
from paramedic.kube import ApiException, Clients
from paramedic.kube.kinds import KINDS, api_version
from paramedic.policy.access import Refused


def read(clients: Clients, kind: str, name: str, namespace: str | None) -> dict[str, Any]:
    """The object as a plain dict (parsed from the response's JSON: ``Kind.read``); Refused (Skipped)
    when it does not exist."""
    try:
        return KINDS[kind].read(clients, name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            where = f" in namespace {namespace}" if namespace else ""
            raise Refused("TargetNotFound", f"{kind} {name} not found{where}", phase="Skipped") from None
        raise


def reread(clients: Clients, recorded: ResolvedTarget) -> Target:
    """The object a step recorded, read again; an empty body when it has gone since."""
    try:
        obj = read(clients, recorded.kind, recorded.name, recorded.namespace)
    except Refused:
        obj = {"metadata": {"name": recorded.name, "namespace": recorded.namespace}, "spec": {}}
    return Target(recorded.api_version, recorded.kind, recorded.name, recorded.namespace, obj)


def _target(kind: str, obj: dict[str, Any]) -> Target:
    meta = obj["metadata"]
    return Target(api_version(kind), kind, meta["name"], meta.get("namespace"), obj)


def _controller(obj: dict[str, Any]) -> tuple[str, str] | None:
    for owner in obj["metadata"].get("ownerReferences") or []:
        if owner.get("controller"):
            return str(owner["kind"]), str(owner["name"])
    return None


def owning_workload(clients: Clients, pod: dict[str, Any]) -> Target | None:
    namespace = pod["metadata"]["namespace"]
    owner = _controller(pod)
    if owner is None:
        return None
    kind, name = owner
    if kind == "ReplicaSet":
        rs = read(clients, "ReplicaSet", name, namespace)
        parent = _controller(rs)
        if parent is None or parent[0] != "Deployment":
            return _target("ReplicaSet", rs)
        kind, name = parent
    if kind not in workloads.WORKLOADS:
        return None
    return _target(kind, read(clients, kind, name, namespace))


def resolve(clients: Clients, ref: ObjectRef, kinds: frozenset[str], action: str) -> Target:
    """The object ``action`` should act on, starting from the Remediation's target."""
    target = _target(ref.kind, read(clients, ref.kind, ref.name, ref.namespace))
    if target.kind in kinds:
        return target
    if target.kind == "Pod":
        if "Node" in kinds and target.obj["spec"].get("nodeName"):
            return _target("Node", read(clients, "Node", target.obj["spec"]["nodeName"], None))
        owner = owning_workload(clients, dict(target.obj))
        if owner is not None and owner.kind in kinds:
            return owner
        if owner is not None and "HorizontalPodAutoscaler" in kinds:
            target = owner
    if target.kind in workloads.WORKLOADS and "HorizontalPodAutoscaler" in kinds:
        hpa = hpas.owning(clients, target)
        if hpa is not None:
            return _target("HorizontalPodAutoscaler", hpa)
        raise Refused("NotApplicable", f"{action}: no HorizontalPodAutoscaler scales {target.describe()}")
    raise Refused(
        "NotApplicable",
        f"{action} works on {', '.join(sorted(kinds))}; {ref.describe()} is not one and does not resolve to one",
    )


#: API errors that say the request itself is wrong (a step fails) rather than the API server being unwell (retried).
REJECTED = (400, 403, 404, 422)


def api_message(exc: ApiException) -> str:
    """An API error as a step's record says it (the engine's steps and a fan-out's targets alike)."""
    return f"{exc.status} {exc.reason}: {(exc.body or '')[:500]}"
