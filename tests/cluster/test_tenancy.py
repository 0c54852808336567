"""A namespace user cannot borrow the operator's power: every rule here is
tried as that user (impersonated, with the roles deploy/ gives tenants), and
each attempt is refused with a reason while nothing outside their namespace
changes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from paramedic.api.common import GROUP, VERSION
from paramedic.kube import ApiException
from tests.cluster.conftest import OPERATOR_NAMESPACE
from tests.kit import Kit, deployment, gated_job

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment"}


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


@pytest.fixture
def victim(victim: str, paramedic: Kit) -> str:
    """Another team's namespace (conftest's) with a Deployment the tenant has no rights on."""
    paramedic.at(victim).deploy("coredns", replicas=1)
    return victim


def _generation(paramedic: Kit, namespace: str, name: str) -> int:
    return int(paramedic.at(namespace).deployment(name)["metadata"]["generation"])


def _shared_restart(paramedic: Kit, tenant_namespace: str, **extra: Any) -> str:
    """A ClusterRunbook the platform team shares with the tenant's namespace."""
    allowed = {"matchLabels": {"kubernetes.io/metadata.name": tenant_namespace}}
    return paramedic.cluster_runbook({"allowedNamespaces": allowed, "steps": [{"rolloutRestart": {}}], **extra})


def test_tenant_cannot_aim_a_shared_cluster_runbook_at_another_namespace(
    paramedic: Kit, tenant: Kit, victim: str
) -> None:
    tenant.deploy("api", replicas=1)
    runbook = _shared_restart(paramedic, tenant.namespace)
    # The tenant may not restart the victim's Deployment itself ...
    with pytest.raises(ApiException) as caught:
        tenant.clients.apps.patch_namespaced_deployment("coredns", victim, {"spec": {"paused": False}})
    assert caught.value.status == 403
    # ... nor through paramedic: unset target.namespaces means "the Remediation's own namespace".
    rem = tenant.remediation(runbook, {**DEPLOYMENT, "name": "coredns", "namespace": victim}, kind="ClusterRunbook")
    status = tenant.wait_phase(rem, "Failed")
    accepted = _condition(status, "Accepted")
    assert accepted["reason"] == "NamespaceNotAllowed"
    assert f"acts only in {tenant.namespace}" in accepted["message"]
    assert _generation(paramedic, victim, "coredns") == 1
    # Its own Deployment, through the same runbook, is fine.
    tenant.wait_phase(tenant.remediation(runbook, {**DEPLOYMENT, "name": "api"}, kind="ClusterRunbook"), "Succeeded")
    assert _generation(paramedic, tenant.namespace, "api") == 2


def test_a_step_target_in_another_namespace_is_refused_before_the_step(
    paramedic: Kit, tenant: Kit, victim: str
) -> None:
    tenant.deploy("api", replicas=1)
    runbook = _shared_restart(paramedic, tenant.namespace)
    elsewhere = paramedic.cluster_runbook(
        {
            "allowedNamespaces": {"matchLabels": {"kubernetes.io/metadata.name": tenant.namespace}},
            "steps": [
                {"rolloutRestart": {}},
                {"rolloutRestart": {}, "target": {**DEPLOYMENT, "name": "coredns", "namespace": victim}},
            ],
        }
    )
    assert runbook != elsewhere
    status = tenant.wait_phase(
        tenant.remediation(elsewhere, {**DEPLOYMENT, "name": "api"}, kind="ClusterRunbook"), "Failed"
    )
    assert [s["phase"] for s in status["steps"]] == ["Succeeded", "Failed"]
    assert status["steps"][1]["reason"] == "NamespaceNotAllowed"
    assert _generation(paramedic, victim, "coredns") == 1


def test_target_namespaces_must_admit_another_namespace_explicitly(paramedic: Kit, tenant: Kit, victim: str) -> None:
    paramedic.clients.core.patch_namespace(victim, {"metadata": {"labels": {"shared-with": tenant.namespace}}})
    runbook = _shared_restart(
        paramedic, tenant.namespace, target={"namespaces": {"matchLabels": {"shared-with": tenant.namespace}}}
    )
    rem = tenant.remediation(runbook, {**DEPLOYMENT, "name": "coredns", "namespace": victim}, kind="ClusterRunbook")
    tenant.wait_phase(rem, "Succeeded")
    assert _generation(paramedic, victim, "coredns") == 2


def test_a_tenant_using_a_shared_cluster_runbook_spends_its_budget(paramedic: Kit, tenant: Kit) -> None:
    """One-off Remediations are not rate-limited, except a tenant's of a ClusterRunbook: it acts with the
    operator's powers, so the admins' budget holds however many the tenant creates."""
    tenant.deploy("api", replicas=1)
    name = f"shared-{uuid.uuid4().hex[:6]}"
    paramedic.clients.custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        OPERATOR_NAMESPACE,
        "ratelimitpolicies",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "RateLimitPolicy",
            "metadata": {"name": name},
            "spec": {"windows": [{"max": 1, "per": "1h", "scope": "Runbook"}], "cooldown": "0s"},
        },
    )
    runbook = _shared_restart(paramedic, tenant.namespace, rateLimitPolicyRef={"name": name})
    first = tenant.wait_phase(tenant.remediation(runbook, {**DEPLOYMENT, "name": "api"}, kind="ClusterRunbook"))
    second = tenant.wait_phase(tenant.remediation(runbook, {**DEPLOYMENT, "name": "api"}, kind="ClusterRunbook"))
    assert (first["phase"], second["phase"]) == ("Succeeded", "RateLimited")
    assert _generation(paramedic, tenant.namespace, "api") == 2
    # The admins' own one-off fix through the same runbook is not held by the budget.
    ops = paramedic.at(OPERATOR_NAMESPACE)
    target = {**DEPLOYMENT, "name": "api", "namespace": tenant.namespace}
    ops.wait_phase(ops.remediation(runbook, target, kind="ClusterRunbook"), "Succeeded")
    assert _generation(paramedic, tenant.namespace, "api") == 3


def _pod_on(paramedic: Kit, name: str, node: str, labels: dict[str, str]) -> None:
    paramedic.clients.core.create_namespaced_pod(
        paramedic.namespace,
        {
            "metadata": {"name": name, "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
        },
    )


def test_a_tenant_pod_cannot_get_its_node_cordoned(paramedic: Kit, tenant: Kit) -> None:
    """Any tenant can create a pod with spec.nodeName set; that must not reach the node."""
    node = "kwok-node-1"
    _pod_on(tenant, "bait", node, {"app": "bait"})
    runbook = paramedic.cluster_runbook(
        {
            "allowedNamespaces": {"matchLabels": {"kubernetes.io/metadata.name": tenant.namespace}},
            "target": {"kinds": ["Pod", "Node"], "selector": {"matchLabels": {"app": "bait"}}},
            "steps": [{"cordon": {}}],
        }
    )
    status = tenant.wait_phase(
        tenant.remediation(runbook, {"kind": "Pod", "name": "bait"}, kind="ClusterRunbook"), "Failed"
    )
    assert status["steps"][0]["reason"] == "NamespaceNotAllowed"
    assert "only Remediations in the operator's namespace" in status["steps"][0]["message"]
    assert not paramedic.clients.core.read_node(node).spec.unschedulable


def test_the_selector_is_checked_on_the_node_acted_on(paramedic: Kit) -> None:
    """From the operator's namespace a pod may resolve to its node, but the node must carry the labels."""
    node = "kwok-node-1"
    _pod_on(paramedic, "bait", node, {"app": "bait"})
    runbook = paramedic.cluster_runbook(
        {
            "allowedNamespaces": {"matchLabels": {"kubernetes.io/metadata.name": paramedic.namespace}},
            "target": {"kinds": ["Pod", "Node"], "selector": {"matchLabels": {"app": "bait"}}},
            "steps": [{"cordon": {}}],
        }
    )
    ops = paramedic.at(OPERATOR_NAMESPACE)
    target = {"kind": "Pod", "name": "bait", "namespace": paramedic.namespace}
    status = ops.wait_phase(ops.remediation(runbook, target, kind="ClusterRunbook"), "Failed")
    assert status["steps"][0]["reason"] == "TargetNotAccepted"
    assert f"Node/{node} does not carry the labels" in status["steps"][0]["message"]
    assert not paramedic.clients.core.read_node(node).spec.unschedulable


def test_a_changed_runbook_snapshot_runs_no_further_step(paramedic: Kit, tenant: Kit) -> None:
    """Steps run from status.runbookSpec: tenants cannot write it, and whoever can is caught by the seal."""
    tenant.deploy("api", replicas=1)
    runbook = tenant.runbook({"steps": [gated_job(f"gate-{uuid.uuid4().hex[:6]}"), {"rolloutRestart": {}}]})
    rem = tenant.remediation(runbook, {**DEPLOYMENT, "name": "api"})
    tenant.wait_phase(rem, "Running")
    forged = {"status": {"runbookSpec": {"steps": [{"rolloutRestart": {}}, {"scale": {"replicas": 9}}]}}}
    with pytest.raises(ApiException) as caught:
        tenant.clients.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, tenant.namespace, "remediations", rem, forged
        )
    assert caught.value.status == 403
    # Someone with status rights (here: the admin) rewrites the steps; the seal no longer matches.
    paramedic.clients.custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, tenant.namespace, "remediations", rem, forged
    )
    status = tenant.wait_phase(rem, "Failed")
    assert _condition(status, "Ready")["reason"] == "SnapshotTampered"
    api = tenant.deployment("api")
    assert (api["metadata"]["generation"], api["spec"]["replicas"]) == (1, 1)


def test_the_tenant_role_grants_no_status_and_nothing_elsewhere(paramedic: Kit, tenant: Kit, victim: str) -> None:
    with pytest.raises(ApiException) as caught:
        tenant.clients.custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            victim,
            "remediations",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "Remediation",
                "metadata": {"name": "elsewhere"},
                "spec": {"runbookRef": {"name": "x"}, "target": {**DEPLOYMENT, "name": "coredns"}},
            },
        )
    assert caught.value.status == 403
    with pytest.raises(ApiException) as caught:
        tenant.clients.apps.create_namespaced_deployment(victim, deployment("intruder"))
    assert caught.value.status == 403
