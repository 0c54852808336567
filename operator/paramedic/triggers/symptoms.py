"""What is wrong with a pod, node or HPA, read from its status alone.

Pure functions, called for every watch event, so they must be cheap and must
never call the API. A symptom carries the facts a runbook's trigger needs to
decide (restart count, reason, how long) and an ``occurrence`` key: the same
failure seen in a later event has the same key, a new failure a new one.
Durations start at the condition's own lastTransitionTime, so restarting the
operator does not reset them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from paramedic.kube import parse_time


@dataclasses.dataclass(frozen=True)
class Symptom:
    trigger: str  # the trigger kind it can start: podCrashLoop, podOOMKilled, ...
    kind: str  # the failing object's kind
    name: str
    namespace: str | None
    labels: Mapping[str, str]
    occurrence: str
    since: datetime | None = None
    container: str | None = None
    facts: Mapping[str, str] = dataclasses.field(default_factory=dict)
    owner: tuple[str, str] | None = None  # (kind, name) of the owning workload, from metadata alone

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace or ''}/{self.name}"


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


def _owner(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    """The owning workload as far as metadata tells, without reading the ReplicaSet."""
    meta = pod["metadata"]
    for ref in meta.get("ownerReferences") or []:
        if not ref.get("controller"):
            continue
        if ref["kind"] == "ReplicaSet":
            hash_ = (meta.get("labels") or {}).get("pod-template-hash")
            if hash_ and ref["name"].endswith(f"-{hash_}"):
                return "Deployment", ref["name"][: -len(hash_) - 1]
            return "ReplicaSet", ref["name"]
        return str(ref["kind"]), str(ref["name"])
    return None


def pod_symptoms(pod: Mapping[str, Any]) -> list[Symptom]:
    meta, status = pod["metadata"], pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return []
    base = {
        "kind": "Pod",
        "name": meta["name"],
        "namespace": meta.get("namespace"),
        "labels": meta.get("labels") or {},
        "owner": _owner(pod),
    }
    uid = meta.get("uid", "")
    found: list[Symptom] = []
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        last = (container.get("lastState") or {}).get("terminated") or {}
        restarts = str(container.get("restartCount", 0))
        if waiting.get("reason"):
            found.append(
                Symptom(
                    trigger="podCrashLoop",
                    occurrence=f"{uid}/{container['name']}",
                    container=container["name"],
                    facts={
                        "reason": waiting["reason"],
                        "restartCount": restarts,
                        "exitCode": str(last.get("exitCode", "")),
                        "lastReason": str(last.get("reason", "")),
                    },
                    **base,
                )
            )
        if last.get("reason") == "OOMKilled":
            finished = last.get("finishedAt") or ""
            found.append(
                Symptom(
                    trigger="podOOMKilled",
                    occurrence=f"{uid}/{container['name']}/{finished}",
                    container=container["name"],
                    since=_time(finished),
                    facts={"restartCount": restarts, "exitCode": str(last.get("exitCode", "")), "finishedAt": finished},
                    **base,
                )
            )
    if status.get("phase") == "Pending":
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                found.append(
                    Symptom(
                        trigger="podPending",
                        occurrence=uid,
                        since=_time(condition.get("lastTransitionTime")),
                        facts={
                            "reason": str(condition.get("reason", "")),
                            "message": str(condition.get("message", "")),
                        },
                        **base,
                    )
                )
    return found


def node_symptoms(node: Mapping[str, Any]) -> list[Symptom]:
    meta = node["metadata"]
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") in ("False", "Unknown"):
            since = condition.get("lastTransitionTime")
            return [
                Symptom(
                    trigger="nodeNotReady",
                    kind="Node",
                    name=meta["name"],
                    namespace=None,
                    labels=meta.get("labels") or {},
                    occurrence=f"{meta.get('uid', '')}/{since}",
                    since=_time(since),
                    facts={"status": str(condition["status"]), "reason": str(condition.get("reason", ""))},
                )
            ]
    return []


def hpa_symptoms(hpa: Mapping[str, Any], first_seen: datetime) -> list[Symptom]:
    """Held at its maximum: at maxReplicas, or ScalingLimited=True because it wants more (TooManyReplicas).
    ScalingLimited for TooFewReplicas is an HPA held at its *minimum*: no reason to raise the cap.
    ``first_seen`` stands in when no condition says since when."""
    meta, spec, status = hpa["metadata"], hpa.get("spec") or {}, hpa.get("status") or {}
    limited = next(
        (
            c
            for c in status.get("conditions") or []
            if c.get("type") == "ScalingLimited" and c.get("status") == "True" and c.get("reason") == "TooManyReplicas"
        ),
        None,
    )
    current, maximum = status.get("currentReplicas"), spec.get("maxReplicas")
    at_max = current is not None and current == maximum
    if not at_max and limited is None:
        return []
    since = _time(limited.get("lastTransitionTime")) if limited else None
    since = since or first_seen
    return [
        Symptom(
            trigger="hpaAtMax",
            kind="HorizontalPodAutoscaler",
            name=meta["name"],
            namespace=meta.get("namespace"),
            labels=meta.get("labels") or {},
            occurrence=f"{meta.get('uid', '')}/{since.isoformat()}",
            since=since,
            facts={
                "currentReplicas": str(current),
                "maxReplicas": str(maximum),
                "reason": str(limited.get("reason", "")) if limited else "AtMaxReplicas",
            },
        )
    ]
