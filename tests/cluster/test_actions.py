"""Every Kubernetes action, run by the operator against the real control plane."""

from __future__ import annotations

from typing import Any

from paramedic.actions.rollout_restart import RESTARTED_BY
from paramedic_dev import simulate
from tests.cluster.conftest import OPERATOR_NAMESPACE
from tests.kit import Kit
from tests.waiting import wait_until

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment"}


def _target(name: str) -> dict[str, Any]:
    return {**DEPLOYMENT, "name": name}


def _replica_sets(paramedic: Kit, app: str) -> list[Any]:
    return list(
        paramedic.clients.apps.list_namespaced_replica_set(paramedic.namespace, label_selector=f"app={app}").items
    )


def create_hpa(paramedic: Kit, name: str, target: str, min_replicas: int, max_replicas: int) -> None:
    """An HPA of the Deployment ``target`` (the HPA controller is off in tests: its status is what a test sets)."""
    paramedic.clients.autoscaling.create_namespaced_horizontal_pod_autoscaler(
        paramedic.namespace,
        {
            "metadata": {"name": name},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "minReplicas": min_replicas,
                "maxReplicas": max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
                    }
                ],
            },
        },
    )


def test_rollout_restart_of_a_crashlooping_pods_deployment(paramedic: Kit) -> None:
    paramedic.deploy("api", replicas=2)
    pod = paramedic.clients.core.list_namespaced_pod(paramedic.namespace, label_selector="app=api").items[0]
    simulate.make_crashloop(paramedic.clients.core, paramedic.namespace, pod.metadata.name, restarts=5)
    runbook = paramedic.runbook({"steps": [{"rolloutRestart": {}, "verify": {"check": "PodsHealthy"}}]})
    rem = paramedic.remediation(runbook, {"kind": "Pod", "name": pod.metadata.name}, reason="crash loop")

    status = paramedic.wait_phase(rem, "Succeeded")
    step = status["steps"][0]
    assert step["target"]["kind"] == "Deployment"
    assert step["target"]["name"] == "api"
    assert step["attempts"] == 1
    template = paramedic.deployment("api")["spec"]["template"]["metadata"]["annotations"]
    assert template[RESTARTED_BY].endswith("/0")
    assert len(_replica_sets(paramedic, "api")) == 2
    assert any("ActionApplied" in e for e in paramedic.events("Deployment", "api"))
    assert any("Succeeded" in e for e in paramedic.events("Remediation", rem))


def test_scale_relative_within_bounds(paramedic: Kit) -> None:
    paramedic.deploy("router", replicas=2)
    runbook = paramedic.runbook({"steps": [{"scale": {"by": 5, "max": 5}}]})
    status = paramedic.wait_phase(paramedic.remediation(runbook, _target("router")), "Succeeded")
    assert status["steps"][0]["changes"] == {"from": 2, "to": 5}
    assert paramedic.deployment("router")["spec"]["replicas"] == 5
    assert paramedic.deployment("router")["status"]["availableReplicas"] == 5


def test_scale_refuses_to_fight_an_hpa_or_raises_its_bounds(paramedic: Kit) -> None:
    paramedic.deploy("web", replicas=2)
    create_hpa(paramedic, "web", "web", 2, 4)
    refuse = paramedic.runbook({"steps": [{"scale": {"replicas": 6}}]})
    status = paramedic.wait_phase(paramedic.remediation(refuse, _target("web")), "Failed")
    assert status["steps"][0]["reason"] == "OwnedByHPA"
    assert "HorizontalPodAutoscaler web" in status["message"]
    assert paramedic.deployment("web")["spec"]["replicas"] == 2

    raise_ = paramedic.runbook(
        {"steps": [{"scale": {"replicas": 6, "max": 8, "hpaPolicy": "RaiseBounds"}, "verify": {"check": "None"}}]}
    )
    paramedic.wait_phase(paramedic.remediation(raise_, _target("web")), "Succeeded")
    hpa = paramedic.clients.autoscaling.read_namespaced_horizontal_pod_autoscaler("web", paramedic.namespace)
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (6, 6)


def test_patch_hpa_raises_max_up_to_the_cap_then_refuses(paramedic: Kit) -> None:
    paramedic.deploy("search", replicas=1)
    create_hpa(paramedic, "search-hpa", "search", 1, 4)
    runbook = paramedic.runbook({"steps": [{"patchHPA": {"raiseMaxBy": 4, "cap": 6}}]})
    status = paramedic.wait_phase(paramedic.remediation(runbook, _target("search")), "Succeeded")
    assert status["steps"][0]["target"]["kind"] == "HorizontalPodAutoscaler"
    assert status["steps"][0]["changes"]["maxReplicas"] == {"from": 4, "to": 6}
    hpa = paramedic.clients.autoscaling.read_namespaced_horizontal_pod_autoscaler("search-hpa", paramedic.namespace)
    assert hpa.spec.max_replicas == 6

    again = paramedic.wait_phase(paramedic.remediation(runbook, _target("search")), "Failed")
    assert again["steps"][0]["reason"] == "AtCap"


def test_delete_pod_gets_it_replaced(paramedic: Kit) -> None:
    paramedic.deploy("worker", replicas=1)
    pod = paramedic.clients.core.list_namespaced_pod(paramedic.namespace, label_selector="app=worker").items[0]
    runbook = paramedic.runbook({"steps": [{"deletePod": {}}]})
    status = paramedic.wait_phase(
        paramedic.remediation(runbook, {"kind": "Pod", "name": pod.metadata.name}), "Succeeded"
    )
    assert status["steps"][0]["changes"]["uid"] == pod.metadata.uid

    def replaced() -> bool:
        pods = paramedic.clients.core.list_namespaced_pod(paramedic.namespace, label_selector="app=worker").items
        return [p.metadata.uid for p in pods] != [pod.metadata.uid] and len(pods) == 1

    wait_until(replaced, 30, "a replacement pod")


def test_rollback_returns_to_the_previous_template(paramedic: Kit) -> None:
    paramedic.deploy("frontend", replicas=2, image="registry.invalid/frontend:1")
    paramedic.clients.apps.patch_namespaced_deployment(
        "frontend",
        paramedic.namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "registry.invalid/frontend:2"}]}}}},
    )
    paramedic.wait_rolled_out("frontend", 2)
    runbook = paramedic.runbook({"steps": [{"rollback": {}}]})
    status = paramedic.wait_phase(paramedic.remediation(runbook, _target("frontend")), "Succeeded")
    assert status["steps"][0]["changes"]["fromRevision"] == 2
    assert status["steps"][0]["changes"]["toRevision"] == 1
    containers = paramedic.deployment("frontend")["spec"]["template"]["spec"]["containers"]
    assert containers[0]["image"] == "registry.invalid/frontend:1"


def test_raise_memory_limit_up_to_the_cap(paramedic: Kit) -> None:
    paramedic.deploy("cache", replicas=1, memory="512Mi")
    runbook = paramedic.runbook({"steps": [{"raiseMemoryLimit": {"factor": 2, "cap": "768Mi"}}]})
    status = paramedic.wait_phase(paramedic.remediation(runbook, _target("cache")), "Succeeded")
    assert status["steps"][0]["changes"]["containers"]["app"] == {"from": "512Mi", "to": "768Mi"}
    limits = paramedic.deployment("cache")["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["memory"] == "768Mi"

    at_cap = paramedic.wait_phase(paramedic.remediation(runbook, _target("cache")), "Failed")
    assert at_cap["steps"][0]["reason"] == "AtCap"


def test_run_job_success_and_failure(paramedic: Kit) -> None:
    paramedic.deploy("db", replicas=1)
    ok = paramedic.runbook(
        {
            "steps": [
                {
                    "runJob": {
                        "template": {
                            "spec": {
                                "template": {
                                    "spec": {
                                        "containers": [
                                            {
                                                "name": "psql",
                                                "image": "registry.invalid/psql:16",
                                                "command": ["psql", "-c", "select 1"],
                                            }
                                        ]
                                    }
                                }
                            }
                        }
                    }
                }
            ]
        }
    )
    rem = paramedic.remediation(ok, _target("db"))
    status = paramedic.wait_phase(rem, "Succeeded")
    job_name = status["steps"][0]["changes"]["job"]
    job = paramedic.clients.batch.read_namespaced_job(job_name, paramedic.namespace)
    env = {e.name: e.value for e in job.spec.template.spec.containers[0].env}
    assert env["PARAMEDIC_TARGET_NAME"] == "db"
    assert env["PARAMEDIC_REMEDIATION"] == rem
    assert job.metadata.owner_references[0].name == rem

    # A Job whose pod can never run is failed by the Job controller at its deadline.
    failing = paramedic.runbook(
        {
            "steps": [
                {
                    "runJob": {
                        "template": {
                            "spec": {
                                "activeDeadlineSeconds": 2,
                                "template": {
                                    "spec": {
                                        "nodeSelector": {simulate.UNSCHEDULABLE_LABEL: "true"},
                                        "containers": [{"name": "redis", "image": "registry.invalid/redis:7"}],
                                    }
                                },
                            }
                        }
                    }
                }
            ]
        }
    )
    failed = paramedic.wait_phase(paramedic.remediation(failing, _target("db")), "Failed")
    assert failed["steps"][0]["reason"] == "JobFailed"
    assert "DeadlineExceeded" in failed["steps"][0]["message"]


def test_cordon_and_uncordon_through_a_cluster_runbook(paramedic: Kit) -> None:
    node = "kwok-node-2"
    nodes = {"kinds": ["Node"]}
    cordon = paramedic.cluster_runbook({"target": nodes, "steps": [{"cordon": {}}]})
    uncordon = paramedic.cluster_runbook({"target": nodes, "steps": [{"uncordon": {}}]})
    ops = paramedic.at(OPERATOR_NAMESPACE)  # nodes are acted on only from the operator's namespace
    try:
        ops.wait_phase(ops.remediation(cordon, {"kind": "Node", "name": node}, kind="ClusterRunbook"), "Succeeded")
        assert paramedic.clients.core.read_node(node).spec.unschedulable is True
        ops.wait_phase(ops.remediation(uncordon, {"kind": "Node", "name": node}, kind="ClusterRunbook"), "Succeeded")
        assert not paramedic.clients.core.read_node(node).spec.unschedulable
    finally:
        paramedic.clients.core.patch_node(node, {"spec": {"unschedulable": None}})


def _guarded_on_node(paramedic: Kit, app: str, node: str, replicas: int, budget: dict[str, int], timeout: str) -> str:
    """A Deployment pinned to ``node``, a PDB over it, and a ClusterRunbook that drains nodes."""
    ns = paramedic.namespace
    paramedic.deploy(app, replicas=replicas, node_selector={"kubernetes.io/hostname": node})
    paramedic.clients.policy.create_namespaced_pod_disruption_budget(
        ns, {"metadata": {"name": app}, "spec": {**budget, "selector": {"matchLabels": {"app": app}}}}
    )
    wait_until(
        lambda: (
            (s := paramedic.clients.policy.read_namespaced_pod_disruption_budget(app, ns).status)
            and s.expected_pods == replicas
        ),
        30,
        "the PDB to be observed",
    )
    return paramedic.cluster_runbook({"target": {"kinds": ["Node"]}, "steps": [{"drain": {}, "timeout": timeout}]})


def test_drain_waits_for_the_pdb_then_completes(paramedic: Kit) -> None:
    node = "kwok-node-1"
    ns = paramedic.namespace
    runbook = _guarded_on_node(paramedic, "ledger", node, 2, {"minAvailable": 2}, "2m")
    ops = paramedic.at(OPERATOR_NAMESPACE)
    try:
        rem = ops.remediation(runbook, {"kind": "Node", "name": node}, kind="ClusterRunbook")

        def blocked() -> bool:
            steps = ops.status(rem).get("steps") or []
            return bool(steps) and "PodDisruptionBudget" in steps[0].get("message", "")

        wait_until(blocked, 30, "the drain to report the PDB")
        assert ops.status(rem)["phase"] == "Running"
        assert paramedic.clients.core.read_node(node).spec.unschedulable is True
        assert len(paramedic.clients.core.list_namespaced_pod(ns, label_selector="app=ledger").items) == 2

        # The budget allows one disruption at a time: the pods leave one by one
        # (their replacements cannot schedule on the cordoned node).
        paramedic.clients.policy.patch_namespaced_pod_disruption_budget("ledger", ns, {"spec": {"minAvailable": 0}})
        status = ops.wait_phase(rem, "Succeeded", timeout=90)
        # Other tests may have left finished pods on the node: drain takes those too.
        assert len([p for p in status["steps"][0]["changes"]["evicted"] if p.startswith(f"{ns}/")]) == 2
        on_node = paramedic.clients.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
        assert [p for p in on_node if p.metadata.namespace == ns] == []
    finally:
        paramedic.clients.core.patch_node(node, {"spec": {"unschedulable": None}})


def test_drain_times_out_naming_what_it_could_not_evict(paramedic: Kit) -> None:
    node = "kwok-node-1"
    ns = paramedic.namespace
    runbook = _guarded_on_node(paramedic, "vault", node, 1, {"maxUnavailable": 0}, "4s")
    ops = paramedic.at(OPERATOR_NAMESPACE)
    try:
        status = ops.wait_phase(
            ops.remediation(runbook, {"kind": "Node", "name": node}, kind="ClusterRunbook"), "Failed"
        )
        assert status["steps"][0]["reason"] == "Timeout"
        assert f"{ns}/vault-" in status["message"]
        assert "PodDisruptionBudget" in status["message"]
    finally:
        paramedic.clients.core.patch_node(node, {"spec": {"unschedulable": None}})
