"""Symptom detection and trigger matching: pure logic, no cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from paramedic.api.runbook import ClusterRunbookSpec, RunbookSpec
from paramedic.api.triggers import LabelMatcher, TargetLabels
from paramedic.triggers.dispatcher import fingerprint
from paramedic.triggers.matching import Entry, evaluate
from paramedic.triggers.series import compile_matchers, matches, target_from
from paramedic.triggers.symptoms import hpa_symptoms, node_symptoms, pod_symptoms

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def stamp(delta: timedelta) -> str:
    return (NOW + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "api-7d9f-abcde",
            "namespace": "shop",
            "uid": "u1",
            "labels": {"app": "api", "pod-template-hash": "7d9f"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "api-7d9f", "controller": True}],
        },
        "status": status,
    }


def crashing(restarts: int) -> dict[str, Any]:
    return pod(
        phase="Running",
        containerStatuses=[
            {
                "name": "app",
                "restartCount": restarts,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
            }
        ],
    )


def entry(spec: dict[str, Any], kind: str = "Runbook", namespace: str | None = "shop") -> Entry:
    model = ClusterRunbookSpec if kind == "ClusterRunbook" else RunbookSpec
    return Entry(kind, "rb", namespace, model.model_validate({"steps": [{"rolloutRestart": {}}], **spec}))


def fire(spec: dict[str, Any], obj: dict[str, Any], **kw: Any) -> Any:
    symptoms = pod_symptoms(obj)
    results = [evaluate(entry(spec, **kw), s, NOW, lambda ns: {"team": "a"}, "paramedic-system") for s in symptoms]
    return [r for r in results if r is not None]


def test_healthy_pod_has_no_symptom() -> None:
    assert (
        pod_symptoms(
            pod(phase="Running", containerStatuses=[{"name": "app", "restartCount": 0, "state": {"running": {}}}])
        )
        == []
    )


def test_crash_loop_threshold_and_workload_lifting() -> None:
    spec = {"trigger": {"podCrashLoop": {"minRestarts": 3}}}
    assert fire(spec, crashing(2)) == []
    [hit] = fire(spec, crashing(3))
    assert hit.target.kind == "Pod"
    assert hit.evidence["restartCount"] == "3"
    [lifted] = fire({**spec, "target": {"kinds": ["Deployment"]}}, crashing(3))
    assert (lifted.target.kind, lifted.target.name) == ("Deployment", "api")


def test_a_runbook_only_sees_its_own_namespace() -> None:
    assert fire({"trigger": {"podCrashLoop": {"minRestarts": 0}}}, crashing(1), namespace="other") == []


def test_cluster_runbook_needs_allowed_namespaces() -> None:
    spec = {"trigger": {"podCrashLoop": {"minRestarts": 0}}}
    assert fire(spec, crashing(1), kind="ClusterRunbook", namespace=None) == []
    allowed = {**spec, "allowedNamespaces": {"matchLabels": {"team": "a"}}}
    [hit] = fire(allowed, crashing(1), kind="ClusterRunbook", namespace=None)
    assert hit.remediation_namespace == "shop"


@pytest.mark.parametrize(("ago", "fires"), [(timedelta(minutes=1), True), (timedelta(days=1), False)])
def test_oom_kill_counts_only_when_recent(ago: timedelta, fires: bool) -> None:
    obj = pod(
        phase="Running",
        containerStatuses=[
            {
                "name": "app",
                "restartCount": 1,
                "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": stamp(-ago)}},
            }
        ],
    )
    assert bool(fire({"trigger": {"podOOMKilled": {}}}, obj)) is fires


@pytest.mark.parametrize(("ago", "fires"), [(timedelta(minutes=4), False), (timedelta(minutes=6), True)])
def test_pending_counts_from_the_condition_transition(ago: timedelta, fires: bool) -> None:
    obj = pod(
        phase="Pending",
        conditions=[
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastTransitionTime": stamp(-ago)}
        ],
    )
    assert bool(fire({"trigger": {"podPending": {"for": "5m"}}}, obj)) is fires


def test_node_and_hpa_symptoms() -> None:
    node = {
        "metadata": {"name": "n1", "uid": "n"},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "Unknown",
                    "reason": "NodeStatusUnknown",
                    "lastTransitionTime": stamp(-timedelta(1)),
                }
            ]
        },
    }
    [symptom] = node_symptoms(node)
    assert symptom.since == NOW - timedelta(1)
    hpa = {"metadata": {"name": "h", "namespace": "shop"}, "spec": {"maxReplicas": 5}, "status": {"currentReplicas": 5}}
    [at_max] = hpa_symptoms(hpa, first_seen=NOW)
    assert at_max.since == NOW
    assert hpa_symptoms({**hpa, "status": {"currentReplicas": 3}}, first_seen=NOW) == []


def _limited(reason: str, current: int) -> dict[str, object]:
    condition = {
        "type": "ScalingLimited",
        "status": "True",
        "reason": reason,
        "lastTransitionTime": stamp(-timedelta(1)),
    }
    return {
        "metadata": {"name": "h", "namespace": "shop"},
        "spec": {"minReplicas": 2, "maxReplicas": 5},
        "status": {"currentReplicas": current, "conditions": [condition]},
    }


def test_hpa_at_max_only_when_limited_at_its_maximum() -> None:
    """ScalingLimited also means "held at its minimum" (TooFewReplicas): that is not an HPA at max."""
    assert hpa_symptoms(_limited("TooFewReplicas", 2), first_seen=NOW) == []
    [wants_more] = hpa_symptoms(_limited("TooManyReplicas", 4), first_seen=NOW)
    assert (wants_more.facts["reason"], wants_more.since) == ("TooManyReplicas", NOW - timedelta(1))
    [at_max] = hpa_symptoms(_limited("TooFewReplicas", 5), first_seen=NOW)  # at maxReplicas all the same
    assert at_max.facts["reason"] == "AtMaxReplicas"


def test_series_labels_name_the_target() -> None:
    ref = target_from({"namespace": "shop", "deployment": "api"}, TargetLabels())
    assert not isinstance(ref, str)
    assert ref.describe() == "Deployment/shop/api"
    assert target_from({"deployment": "api"}, TargetLabels()) == "no 'namespace' label"


def test_alert_matchers() -> None:
    regex = LabelMatcher(name="severity", value="page|critical", is_regex=True)
    assert matches(compile_matchers([regex]), {"severity": "critical"})
    assert not matches(compile_matchers([regex]), {"severity": "criticality"})  # anchored, as Alertmanager does
    assert matches(compile_matchers([LabelMatcher(name="env", value="dev", is_equal=False)]), {})


def test_fingerprint_ignores_when_it_started() -> None:
    assert fingerprint({"restartCount": "3", "since": "a"}) == fingerprint({"restartCount": "3", "since": "b"})
    assert fingerprint({"restartCount": "3"}) != fingerprint({"restartCount": "4"})
