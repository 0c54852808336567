"""applyManifest on the control plane: P0's ingress branch (examples/paintbox/runbook-p0-ingress.yaml) puts a
deleted or modified Ingress back, a dry run records the diff, and a manifest outside the step's scope is
refused with the reason, as the cluster admin and as an impersonated tenant."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from paramedic.kube import ApiException
from paramedic.kube import apply as ssa
from tests.kit import Kit
from tests.waiting import wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "paintbox" / "runbook-p0-ingress.yaml"
ROUTER = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "apollo-router"}


def _example(kit: Kit) -> str:
    """The example's ConfigMap and Runbook, unchanged but for their namespace (the test's)."""
    docs = {d["kind"]: d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d}
    config_map = docs["ConfigMap"]
    config_map["metadata"]["namespace"] = kit.namespace
    kit.clients.core.create_namespaced_config_map(kit.namespace, config_map)
    return kit.runbook(docs["Runbook"]["spec"], name=docs["Runbook"]["metadata"]["name"])


def _ingress(kit: Kit) -> dict[str, Any]:
    return kit.clients.plain(kit.clients.networking.read_namespaced_ingress("paintbox", kit.namespace))


def _host(kit: Kit) -> str:
    return str(_ingress(kit)["spec"]["rules"][0]["host"])


def test_p0_ingress_comes_back_when_deleted_and_is_restored_when_modified(paramedic: Kit) -> None:
    paramedic.deploy("apollo-router", replicas=1)
    runbook = _example(paramedic)

    # Deleted (never there): re-created, owned by the field manager paramedic.
    status = paramedic.wait_phase(paramedic.remediation(runbook, ROUTER), "Succeeded")
    assert status["steps"][0]["changes"]["objects"][0]["change"] == "create"
    assert _host(paramedic) == "paintbox.example.com"
    assert "paramedic" in {m["manager"] for m in _ingress(paramedic)["metadata"]["managedFields"]}

    # Modified by someone else: a dry run records which fields it would put back and changes nothing ...
    evil = {"spec": {"rules": [{"host": "evil.example.com", "http": _ingress(paramedic)["spec"]["rules"][0]["http"]}]}}
    paramedic.clients.networking.patch_namespaced_ingress("paintbox", paramedic.namespace, evil)
    status = paramedic.wait_phase(paramedic.remediation(runbook, ROUTER, dryRun=True), "DryRun")
    step = status["steps"][0]
    assert step["phase"] == "DryRun"
    assert step["changes"]["objects"][0]["change"] == "update"
    assert "spec.rules[0].host" in step["changes"]["objects"][0]["fields"]
    assert _host(paramedic) == "evil.example.com"
    # Without forceConflicts the field another manager now owns is not taken back ...
    spec = next(d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d["kind"] == "Runbook")["spec"]
    spec["steps"][0]["applyManifest"]["forceConflicts"] = False
    status = paramedic.wait_phase(paramedic.remediation(paramedic.runbook(spec), ROUTER), "Failed")
    assert status["steps"][0]["reason"] == "Conflict"
    assert _host(paramedic) == "evil.example.com"
    # ... with it, the real run puts it back.
    paramedic.wait_phase(paramedic.remediation(runbook, ROUTER), "Succeeded")
    assert _host(paramedic) == "paintbox.example.com"

    # Already as declared: nothing is written.
    version = _ingress(paramedic)["metadata"]["resourceVersion"]
    status = paramedic.wait_phase(paramedic.remediation(runbook, ROUTER), "Succeeded")
    assert status["steps"][0]["changes"]["objects"][0]["change"] == "unchanged"
    assert status["steps"][0]["changes"]["applied"] == []
    assert _ingress(paramedic)["metadata"]["resourceVersion"] == version


def _manifest_runbook(kit: Kit, text: str) -> str:
    name = f"manifest-{uuid.uuid4().hex[:6]}"
    kit.clients.core.create_namespaced_config_map(kit.namespace, {"metadata": {"name": name}, "data": {"m": text}})
    return kit.runbook({"steps": [{"applyManifest": {"configMap": name, "key": "m"}}]})


ROLE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: everything}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
"""


def test_a_forbidden_kind_is_refused_with_the_reason(paramedic: Kit) -> None:
    paramedic.deploy("apollo-router", replicas=1)
    service = "apiVersion: v1\nkind: Service\nmetadata: {name: fine}\nspec: {ports: [{port: 80}]}\n"
    runbook = _manifest_runbook(paramedic, service + "---" + ROLE)
    status = paramedic.wait_phase(paramedic.remediation(runbook, ROUTER), "Failed")
    assert status["steps"][0]["reason"] == "ManifestRefused"
    assert "document 2 is a Role; this step applies only ConfigMap, Ingress, Service" in status["steps"][0]["message"]
    # Nothing of the manifest was applied, not even the allowed document before it.
    with pytest.raises(ApiException) as caught:
        paramedic.clients.core.read_namespaced_service("fine", paramedic.namespace)
    assert caught.value.status == 404


def test_a_tenant_cannot_apply_into_another_namespace_or_a_forbidden_kind(
    paramedic: Kit, tenant: Kit, victim: str
) -> None:
    tenant.deploy("apollo-router", replicas=1)
    config_map = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: planted, namespace: {victim}}}\ndata: {{a: b}}\n"
    runbook = _manifest_runbook(tenant, config_map)
    status = tenant.wait_phase(tenant.remediation(runbook, ROUTER), "Failed")
    assert status["steps"][0]["reason"] == "ManifestRefused"
    assert f"is for namespace {victim}; this step applies only in {tenant.namespace}" in status["message"]
    assert paramedic.clients.core.list_namespaced_config_map(victim, field_selector="metadata.name=planted").items == []

    # A tenant's Runbook cannot even declare a kind beyond ConfigMap, Ingress and Service.
    with pytest.raises(ApiException) as caught:
        tenant.runbook({"steps": [{"applyManifest": {"configMap": "m", "key": "m", "kinds": ["ClusterRole"]}}]})
    assert caught.value.status == 422
    assert "spec.steps[0].applyManifest.kinds[0]" in caught.value.body
    # Nor a manifest of a cluster-scoped or forbidden kind through the default kinds.
    runbook = _manifest_runbook(tenant, ROLE)
    status = tenant.wait_phase(tenant.remediation(runbook, ROUTER), "Failed")
    assert "is a Role" in status["message"]


def test_a_cluster_runbook_applies_its_declared_kinds_namespaced_only(paramedic: Kit) -> None:
    # Two targets: a ClusterRunbook used from a namespace has a cooldown per target.
    paramedic.deploy("apollo-router", replicas=1)
    paramedic.deploy("frontend", replicas=1)
    priority = "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: top}\nvalue: 1000000\n"
    service = "apiVersion: v1\nkind: Service\nmetadata: {name: router}\nspec: {ports: [{port: 80}]}\n"
    data = {"priority": priority, "service": service}
    paramedic.clients.core.create_namespaced_config_map(paramedic.namespace, {"metadata": {"name": "m"}, "data": data})
    allowed = {"matchLabels": {"kubernetes.io/metadata.name": paramedic.namespace}}

    def run(key: str, kinds: list[str], target: str, phase: str) -> dict[str, Any]:
        step = {"applyManifest": {"configMap": "m", "key": key, "kinds": kinds}}
        runbook = paramedic.cluster_runbook({"allowedNamespaces": allowed, "steps": [step]})
        rem = paramedic.remediation(runbook, {**ROUTER, "name": target}, kind="ClusterRunbook")
        return paramedic.wait_phase(rem, phase)

    # Declared, yet cluster-scoped: refused before anything is written.
    status = run("priority", ["PriorityClass"], "apollo-router", "Failed")
    assert "scheduling.k8s.io/v1 PriorityClass is cluster-scoped" in status["message"]
    scheduling = client.SchedulingV1Api(paramedic.clients.api_client)
    assert scheduling.list_priority_class(field_selector="metadata.name=top").items == []
    # A declared namespaced kind is applied into the target's namespace.
    run("service", ["Service"], "frontend", "Succeeded")
    assert paramedic.clients.core.read_namespaced_service("router", paramedic.namespace).spec.ports[0].port == 80


def test_a_kind_installed_after_it_was_asked_for_is_found_without_a_restart(clients: Any, api: Any) -> None:
    """Discovery keeps what is served, never what is not: a manifest of a CRD's kind applies once the CRD is
    installed, though an earlier step asked for that kind before it existed."""
    group = f"g{uuid.uuid4().hex[:8]}.example.dev"
    ext = client.ApiextensionsV1Api(api)
    assert ssa.resource(clients, f"{group}/v1", "Widget") is None  # not served yet: not remembered as such
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": schema}],
        },
    }
    ext.create_custom_resource_definition(crd)
    try:
        wait_until(lambda: ssa.resource(clients, f"{group}/v1", "Widget") is not None, 30, "the new kind found")
        found = ssa.resource(clients, f"{group}/v1", "Widget")
        assert found is not None
        assert (found.plural, found.namespaced) == ("widgets", True)
        assert ssa.resource(clients, f"{group}/v1", "Gadget") is None  # a kind its group version lacks
    finally:
        ext.delete_custom_resource_definition(f"widgets.{group}")
