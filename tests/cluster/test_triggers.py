"""Kubernetes-state triggers: each failure produces exactly one Remediation of
the matching runbook, none for healthy or non-matching objects, and nothing is
ever written to the watched pods, nodes or HPAs."""

from __future__ import annotations

import datetime
from typing import Any

from paramedic.api.common import GROUP, VERSION
from paramedic_dev import simulate
from tests.cluster.conftest import APPROVER_GROUP
from tests.kit import Kit
from tests.waiting import wait_until

OPERATOR_NAMESPACE = "paramedic-system"


def remediations(paramedic: Kit, runbook: str, namespace: str | None = None) -> list[dict[str, Any]]:
    items = paramedic.clients.custom.list_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace or paramedic.namespace,
        "remediations",
        label_selector=f"paramedic.dev/runbook={runbook}",
    )["items"]
    return list(items)


def one_remediation(paramedic: Kit, runbook: str, namespace: str | None = None) -> dict[str, Any]:
    found = wait_until(lambda: remediations(paramedic, runbook, namespace), 30, f"a remediation of {runbook}")
    assert len(found) == 1, [r["metadata"]["name"] for r in found]
    return found[0]


def pods(paramedic: Kit, app: str) -> list[Any]:
    return list(paramedic.clients.core.list_namespaced_pod(paramedic.namespace, label_selector=f"app={app}").items)


def untouched(obj: Any) -> None:
    """Nothing of paramedic's or Kopf's was written onto a watched object."""
    annotations = obj.metadata.annotations or {}
    assert not [k for k in annotations if "kopf" in k or "paramedic" in k], annotations
    assert not [f for f in obj.metadata.finalizers or [] if "kopf" in f or "paramedic" in f]


def test_crash_loop_fires_once_and_counts_repeats(paramedic: Kit) -> None:
    paramedic.deploy("api", replicas=3)
    runbook = paramedic.runbook(
        {
            "trigger": {"podCrashLoop": {"minRestarts": 3}},
            "target": {"kinds": ["Pod", "Deployment"]},
            "requiresApproval": True,  # keep it open, so repeats are counted on it
            "approvers": {"groups": [APPROVER_GROUP]},
            "steps": [{"rolloutRestart": {}}],
        },
        name="crashloop",
    )
    healthy, crashing, below = pods(paramedic, "api")
    core, ns = paramedic.clients.core, paramedic.namespace
    simulate.make_crashloop(core, ns, below.metadata.name, restarts=2)  # under the threshold
    simulate.make_crashloop(core, ns, crashing.metadata.name, restarts=3)

    rem = one_remediation(paramedic, runbook)
    spec = rem["spec"]
    assert spec["target"] == {"apiVersion": "v1", "kind": "Pod", "name": crashing.metadata.name, "namespace": ns}
    assert spec["trigger"]["kind"] == "podCrashLoop"
    assert spec["trigger"]["evidence"]["restartCount"] == "3"
    assert spec["trigger"]["evidence"]["reason"] == "CrashLoopBackOff"

    simulate.make_crashloop(core, ns, crashing.metadata.name)  # restart 4: counted, not started again
    name = rem["metadata"]["name"]
    wait_until(lambda: paramedic.status(name).get("occurrences") == 2, 30, "the repeat to be counted")
    assert len(remediations(paramedic, runbook)) == 1

    status = paramedic.clients.custom.get_namespaced_custom_object(GROUP, VERSION, ns, "runbooks", runbook)["status"]
    assert status["fireCount"] == 1
    assert status["triggerKind"] == "podCrashLoop"
    for pod in (healthy, below):
        now = core.read_namespaced_pod(pod.metadata.name, ns)
        untouched(now)
    assert (
        core.read_namespaced_pod(healthy.metadata.name, ns).metadata.resource_version
        == healthy.metadata.resource_version
    )


def test_crash_loop_acts_on_the_workload_when_the_runbook_wants_workloads(paramedic: Kit) -> None:
    paramedic.deploy("web", replicas=2)
    runbook = paramedic.runbook(
        {
            "trigger": {"podCrashLoop": {"minRestarts": 1}},
            "target": {"kinds": ["Deployment"], "selector": {"matchLabels": {"app": "web"}}},
            "steps": [{"rolloutRestart": {}}],
        },
        name="restart-web",
    )
    first, _second = pods(paramedic, "web")
    simulate.make_crashloop(paramedic.clients.core, paramedic.namespace, first.metadata.name, restarts=2)
    rem = one_remediation(paramedic, runbook)
    assert rem["spec"]["target"]["kind"] == "Deployment"
    assert rem["spec"]["target"]["name"] == "web"
    paramedic.wait_phase(rem["metadata"]["name"], "Succeeded")


def test_selector_and_namespace_scope(paramedic: Kit) -> None:
    paramedic.deploy("batch", replicas=1)
    paramedic.deploy("shop", replicas=1)
    picky = paramedic.runbook(
        {
            "trigger": {"podCrashLoop": {"minRestarts": 1}},
            "target": {"selector": {"matchLabels": {"app": "shop"}}},
            "steps": [{"deletePod": {}}],
        },
        name="picky",
    )
    core, ns = paramedic.clients.core, paramedic.namespace
    simulate.make_crashloop(core, ns, pods(paramedic, "batch")[0].metadata.name, restarts=5)
    # The canary: the same runbook does fire for a matching pod, so the event above was seen and passed over.
    simulate.make_crashloop(core, ns, pods(paramedic, "shop")[0].metadata.name, restarts=5)
    rem = one_remediation(paramedic, picky)
    assert rem["spec"]["target"]["name"].startswith("shop-")


def test_oom_kill_fires_for_new_kills_only(paramedic: Kit) -> None:
    paramedic.deploy("cache", replicas=2, memory="256Mi")
    old, new = pods(paramedic, "cache")
    core, ns = paramedic.clients.core, paramedic.namespace
    yesterday = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    simulate.make_oomkilled(core, ns, old.metadata.name, finished_at=yesterday)
    runbook = paramedic.runbook(
        {
            "trigger": {"podOOMKilled": {}},
            "target": {"kinds": ["Deployment"]},
            "steps": [{"raiseMemoryLimit": {"factor": 2, "cap": "1Gi"}}],
        },
        name="oom",
    )
    simulate.make_oomkilled(core, ns, new.metadata.name)
    rem = one_remediation(paramedic, runbook)
    assert rem["spec"]["trigger"]["evidence"]["object"] == f"Pod/{ns}/{new.metadata.name}"
    assert rem["spec"]["trigger"]["evidence"]["exitCode"] == "137"
    status = paramedic.wait_phase(rem["metadata"]["name"], "Succeeded")
    assert status["steps"][0]["changes"]["containers"]["app"] == {"from": "256Mi", "to": "512Mi"}


def test_pending_pod_fires_after_its_duration(paramedic: Kit) -> None:
    runbook = paramedic.runbook({"trigger": {"podPending": {"for": "3s"}}, "steps": [{"deletePod": {}}]}, name="stuck")
    paramedic.clients.core.create_namespaced_pod(paramedic.namespace, simulate.unschedulable_pod("stuck"))
    rem = one_remediation(paramedic, runbook)
    evidence = rem["spec"]["trigger"]["evidence"]
    since = datetime.datetime.fromisoformat(evidence["since"])
    fired = datetime.datetime.fromisoformat(rem["spec"]["trigger"]["firedAt"])
    assert fired - since >= datetime.timedelta(seconds=3)
    assert evidence["reason"] == "Unschedulable"
    paramedic.wait_phase(rem["metadata"]["name"], "Succeeded")


def test_node_not_ready_fires_a_cluster_runbook(paramedic: Kit) -> None:
    node = "kwok-node-2"
    runbook = paramedic.cluster_runbook(
        {"trigger": {"nodeNotReady": {"for": "1s"}}, "target": {"kinds": ["Node"]}, "steps": [{"cordon": {}}]}
    )
    others = {
        n.metadata.name: n.metadata.resource_version
        for n in paramedic.clients.core.list_node().items
        if n.metadata.name != node
    }
    try:
        simulate.make_node_not_ready(paramedic.clients.core, node)
        rem = one_remediation(paramedic, runbook, OPERATOR_NAMESPACE)
        assert rem["spec"]["target"] == {"apiVersion": "v1", "kind": "Node", "name": node}
        status = wait_until(
            lambda: (
                (
                    s := paramedic.clients.custom.get_namespaced_custom_object(
                        GROUP, VERSION, OPERATOR_NAMESPACE, "remediations", rem["metadata"]["name"]
                    ).get("status")
                )
                and s.get("phase") == "Succeeded"
                and s
            ),
            30,
            "the cordon",
        )
        assert status["steps"][0]["action"] == "cordon"
        for name, version in others.items():
            current = paramedic.clients.core.read_node(name)
            untouched(current)
            assert current.metadata.resource_version == version
    finally:
        simulate.make_node_ready(paramedic.clients.core, node)
        paramedic.clients.core.patch_node(node, {"spec": {"unschedulable": None}})
        paramedic.clients.custom.delete_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", runbook)


def test_hpa_at_max_raises_the_cap(paramedic: Kit) -> None:
    paramedic.deploy("search", replicas=4)
    auto = paramedic.clients.autoscaling
    ns = paramedic.namespace
    for name in ("search", "calm"):
        auto.create_namespaced_horizontal_pod_autoscaler(
            ns,
            {
                "metadata": {"name": name},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "search"},
                    "minReplicas": 2,
                    "maxReplicas": 4,
                },
            },
        )
    calm = auto.read_namespaced_horizontal_pod_autoscaler("calm", ns)
    runbook = paramedic.runbook(
        {"trigger": {"hpaAtMax": {"for": "2s"}}, "steps": [{"patchHPA": {"raiseMaxBy": 2, "cap": 10}}]}, name="hpa-max"
    )
    long_ago = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    auto.patch_namespaced_horizontal_pod_autoscaler_status(
        "search",
        ns,
        {
            "status": {
                "currentReplicas": 4,
                "desiredReplicas": 4,
                "conditions": [
                    {
                        "type": "ScalingLimited",
                        "status": "True",
                        "reason": "TooManyReplicas",
                        "lastTransitionTime": long_ago,
                    }
                ],
            }
        },
    )
    rem = one_remediation(paramedic, runbook)
    assert rem["spec"]["target"]["kind"] == "HorizontalPodAutoscaler"
    assert rem["spec"]["trigger"]["evidence"]["reason"] == "TooManyReplicas"
    paramedic.wait_phase(rem["metadata"]["name"], "Succeeded")
    assert auto.read_namespaced_horizontal_pod_autoscaler("search", ns).spec.max_replicas == 6
    now_calm = auto.read_namespaced_horizontal_pod_autoscaler("calm", ns)
    untouched(now_calm)
    assert now_calm.metadata.resource_version == calm.metadata.resource_version


def test_restarted_operator_does_not_fire_twice(paramedic: Kit) -> None:
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook(
        {
            "trigger": {"podCrashLoop": {"minRestarts": 1}},
            "requiresApproval": True,
            "approvers": {"groups": [APPROVER_GROUP]},
            "steps": [{"deletePod": {}}],
        },
        name="once",
    )
    pod = pods(paramedic, "api")[0].metadata.name
    simulate.make_crashloop(paramedic.clients.core, paramedic.namespace, pod, restarts=3)
    first = one_remediation(paramedic, runbook)
    paramedic.operator.kill()
    paramedic.operator.start_and_wait()
    # After the restart the crash loop goes on; the open remediation counts it.
    simulate.make_crashloop(paramedic.clients.core, paramedic.namespace, pod)
    wait_until(lambda: paramedic.status(first["metadata"]["name"]).get("occurrences") == 2, 30, "the count")
    assert len(remediations(paramedic, runbook)) == 1
