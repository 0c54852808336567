"""The local control plane is a real one: controllers, scheduler, admission,
schema validation and the Eviction API behave as on any cluster."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from paramedic_dev import simulate
from paramedic_dev.cluster import DevCluster
from paramedic_dev.objects import deployment
from tests.waiting import wait_until


def ready_pods(core: client.CoreV1Api, namespace: str, selector: str) -> list[client.V1Pod]:
    pods = core.list_namespaced_pod(namespace, label_selector=selector).items
    return [
        p
        for p in pods
        if p.status.phase == "Running"
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]


def test_version_is_stamped(cluster: DevCluster) -> None:
    out = subprocess.run([str(cluster.bin["kube-apiserver"]), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith("Kubernetes v1."), out.stdout
    assert "master" not in out.stdout


def test_deployment_pods_are_scheduled_on_kwok_nodes_and_become_ready(
    core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=3))
    pods = wait_until(
        lambda: len(ready_pods(core, namespace, "app=web")) == 3 and ready_pods(core, namespace, "app=web"),
        60,
        "3 ready pods",
    )
    assert all(p.spec.node_name.startswith("kwok-node-") for p in pods)
    owners = {p.metadata.owner_references[0].kind for p in pods}
    assert owners == {"ReplicaSet"}
    wait_until(
        lambda: apps.read_namespaced_deployment(name="web", namespace=namespace).status.ready_replicas == 3,
        30,
        "the Deployment controller to count 3 ready replicas",
    )


def test_server_rejects_an_invalid_crd_schema(api: Any) -> None:
    ext = client.ApiextensionsV1Api(api)
    bad = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.dev"},
        "spec": {
            "group": "example.dev",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    # "type: object" is missing at the root and "replicas" has an unknown type.
                    "schema": {"openAPIV3Schema": {"properties": {"replicas": {"type": "count"}}}},
                }
            ],
        },
    }
    with pytest.raises(ApiException) as caught:
        ext.create_custom_resource_definition(bad)
    assert caught.value.status == 422
    assert "openAPIV3Schema" in caught.value.body


def test_eviction_blocked_by_a_pod_disruption_budget_is_429(
    core: client.CoreV1Api, apps: client.AppsV1Api, api: Any, namespace: str
) -> None:
    apps.create_namespaced_deployment(namespace, deployment("db", replicas=2))
    wait_until(lambda: len(ready_pods(core, namespace, "app=db")) == 2, 60, "2 ready pods")
    policy = client.PolicyV1Api(api)
    policy.create_namespaced_pod_disruption_budget(
        namespace,
        {
            "metadata": {"name": "db"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}},
        },
    )
    wait_until(
        lambda: (s := policy.read_namespaced_pod_disruption_budget("db", namespace).status) and s.expected_pods == 2,
        30,
        "the disruption controller to observe the PDB",
    )
    victim = ready_pods(core, namespace, "app=db")[0].metadata.name
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": victim, "namespace": namespace}}
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_pod_eviction(victim, namespace, eviction)
    assert caught.value.status == 429
    assert "disruption budget" in caught.value.body

    # Once the budget allows a disruption the same eviction goes through.
    policy.patch_namespaced_pod_disruption_budget("db", namespace, {"spec": {"minAvailable": 1}})
    wait_until(
        lambda: policy.read_namespaced_pod_disruption_budget("db", namespace).status.disruptions_allowed == 1,
        30,
        "disruptionsAllowed=1",
    )
    core.create_namespaced_pod_eviction(victim, namespace, eviction)
    wait_until(
        lambda: victim not in {p.metadata.name for p in core.list_namespaced_pod(namespace).items},
        30,
        "the evicted pod to go",
    )


def _single_pod(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str, name: str) -> str:
    apps.create_namespaced_deployment(namespace, deployment(name, replicas=1))
    pods = wait_until(lambda: ready_pods(core, namespace, f"app={name}"), 60, "a ready pod")
    return str(pods[0].metadata.name)


def test_crashloop_shows_in_pod_status(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str) -> None:
    pod = _single_pod(core, apps, namespace, "crashy")
    simulate.make_crashloop(core, namespace, pod, restarts=4)
    status = core.read_namespaced_pod(pod, namespace).status
    container = status.container_statuses[0]
    assert container.state.waiting.reason == "CrashLoopBackOff"
    assert container.state.running is None
    assert container.restart_count == 4
    assert container.last_state.terminated.exit_code == 1
    assert container.last_state.terminated.reason == "Error"
    assert {c.type: c.status for c in status.conditions}["Ready"] == "False"

    simulate.make_crashloop(core, namespace, pod)
    assert core.read_namespaced_pod(pod, namespace).status.container_statuses[0].restart_count == 5


def test_oomkill_shows_in_pod_status(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str) -> None:
    pod = _single_pod(core, apps, namespace, "hungry")
    simulate.make_oomkilled(core, namespace, pod)
    container = core.read_namespaced_pod(pod, namespace).status.container_statuses[0]
    assert container.last_state.terminated.reason == "OOMKilled"
    assert container.last_state.terminated.exit_code == 137
    assert container.restart_count == 1
    assert container.state.running is not None


def test_unschedulable_pod_is_reported_by_the_scheduler(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, simulate.unschedulable_pod("stuck"))

    def unschedulable() -> bool:
        status = core.read_namespaced_pod("stuck", namespace).status
        return status.phase == "Pending" and any(
            c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable"
            for c in status.conditions or []
        )

    wait_until(unschedulable, 30, "PodScheduled=False/Unschedulable")


def test_node_not_ready_and_back(core: client.CoreV1Api, cluster: DevCluster) -> None:
    node = "kwok-node-0"

    def ready(name: str) -> str:
        conditions = core.read_node(name).status.conditions
        return str({c.type: c.status for c in conditions}["Ready"])

    simulate.make_node_not_ready(core, node)
    assert ready(node) == "False"
    simulate.make_node_ready(core, node)
    wait_until(lambda: ready(node) == "True", 30, "KWOK to report the node Ready again")
