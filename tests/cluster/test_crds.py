"""The API server enforces the generated schemas and documents them."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from paramedic.api.common import GROUP, VERSION
from paramedic.api.resources import RESOURCES
from paramedic.kube import ApiException, Clients
from paramedic_dev.cluster import DevCluster
from tests.cel_cases import PARAMS


def _create(clients: Clients, namespace: str, kind: str, spec: dict[str, Any]) -> ApiException:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": "bad"}, "spec": spec}
    plural = kind.lower() + "s"
    with pytest.raises(ApiException) as caught:
        clients.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)
    assert caught.value.status == 422
    return caught.value


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"steps": []}, "spec.steps", "should have at least 1 items"),
        ({"steps": [{"rolloutRestart": {}, "deletePod": {}}]}, "spec.steps[0]", "exactly one action"),
        ({"steps": [{"scale": {"replicas": 3, "by": 1}}]}, "spec.steps[0].scale", "exactly one of replicas"),
        ({"steps": [{"scale": {"by": 1, "min": 5, "max": 2}}]}, "spec.steps[0].scale.min", "must not exceed"),
        ({"steps": [{"drain": {}}]}, "spec.steps", "need a ClusterRunbook"),
        ({"steps": [{"rolloutRestart": {}, "timeout": "five minutes"}]}, "spec.steps[0].timeout", "should match"),
        ({"steps": [{"patchHPA": {"cap": 5}}]}, "spec.steps[0].patchHPA", "needs minReplicas, maxReplicas"),
        ({"steps": [{"raiseMemoryLimit": {"cap": "lots"}}]}, "spec.steps[0].raiseMemoryLimit.cap", "should match"),
        (
            {"trigger": {"manual": {}, "podCrashLoop": {}}, "steps": [{"rolloutRestart": {}}]},
            "spec.trigger",
            "exactly one of",
        ),
        (
            {"trigger": {"nodeNotReady": {}}, "steps": [{"rolloutRestart": {}}]},
            "spec.trigger.nodeNotReady",
            "needs a ClusterRunbook",
        ),
        ({"mode": "Whenever", "steps": [{"rolloutRestart": {}}]}, "spec.mode", "Unsupported value"),
    ],
)
def test_invalid_runbooks_are_rejected_naming_the_field(
    clients: Clients, crds: None, namespace: str, spec: dict[str, Any], field: str, message: str
) -> None:
    error = _create(clients, namespace, "Runbook", spec)
    assert f"{field}:" in error.body
    assert message in error.body


def test_cluster_runbook_accepts_node_actions(clients: Clients, crds: None) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ClusterRunbook",
        "metadata": {"name": "drain-ok"},
        "spec": {"target": {"kinds": ["Node"]}, "steps": [{"cordon": {}}, {"drain": {"deleteEmptyDirData": True}}]},
    }
    clients.custom.create_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", body)
    clients.custom.delete_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", "drain-ok")


def test_node_actions_need_node_in_target_kinds(clients: Clients, crds: None) -> None:
    """Otherwise the selector would be checked on a pod while its node is drained."""
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ClusterRunbook",
        "metadata": {"name": "drain-unnamed-kind"},
        "spec": {"target": {"kinds": ["Pod"]}, "steps": [{"drain": {}}]},
    }
    with pytest.raises(ApiException) as caught:
        clients.custom.create_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", body)
    assert caught.value.status == 422
    assert "spec.target.kinds: Invalid value" in caught.value.body
    assert "need Node in target.kinds" in caught.value.body


def test_node_target_with_a_namespace_is_rejected(clients: Clients, crds: None, namespace: str) -> None:
    error = _create(
        clients,
        namespace,
        "Remediation",
        {"runbookRef": {"name": "x"}, "target": {"kind": "Node", "name": "n", "namespace": "default"}},
    )
    assert "spec.target.namespace: Invalid value" in error.body


def test_kubectl_explain_documents_the_api(cluster: DevCluster, crds: None) -> None:
    def explain(path: str) -> str:
        return " ".join(
            subprocess.run(
                [str(cluster.bin["kubectl"]), "explain", path],
                env=cluster.env(),
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
        )

    assert "Never scale above this many replicas." in explain("runbook.spec.steps.scale")
    assert "stop at the first whose verification passes" in explain("clusterrunbook.spec.mode")
    assert "History of the steps" in explain("remediation.status.steps")


def test_short_names_and_category(cluster: DevCluster, crds: None) -> None:
    out = subprocess.run(
        [str(cluster.bin["kubectl"]), "api-resources", "--api-group", GROUP, "-o", "wide"],
        env=cluster.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert " rb " in rows["runbooks"]
    assert " crb " in rows["clusterrunbooks"]
    assert " rem " in rows["remediations"]
    assert all("paramedic" in row for row in rows.values())


_PLURALS = {r.kind: (r.plural, r.namespaced) for r in RESOURCES}


@PARAMS
def test_the_api_server_rejects_each_cel_counter_example_naming_the_field(
    clients: Clients, crds: None, namespace: str, kind: str, spec: dict[str, Any], field: str, message: str
) -> None:
    """The same counter-examples `paramedic lint` rejects (tests/unit/test_cel_rules.py)."""
    plural, namespaced = _PLURALS[kind]
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": "counter-example"}, "spec": spec}
    create = (
        (lambda: clients.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body))
        if namespaced
        else (lambda: clients.custom.create_cluster_custom_object(GROUP, VERSION, plural, body))
    )
    with pytest.raises(ApiException) as caught:
        create()
    assert caught.value.status == 422, caught.value.body
    assert f"{field}:" in caught.value.body
    assert message in caught.value.body
