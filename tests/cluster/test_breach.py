"""The breach response of the seed's Candlefish security incident, run by the operator on the control plane:
isolate (a NetworkPolicy), rotate, restart what uses the rotated Secret, release; or scale to zero and
restore. The Runbooks are the example file's own (examples/candlefish/runbook-breach.yaml)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import watch

from paramedic.actions.rollout_restart import RESTARTED_AT, RESTARTED_BY
from paramedic.kube import ApiException
from tests.cluster.test_actions import create_hpa
from tests.kit import Kit, deployment, gated_job
from tests.waiting import wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "candlefish" / "runbook-breach.yaml"
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment"}


def example_runbook(kit: Kit, name: str) -> str:
    """The example's Runbook ``name``, created unchanged in the test's namespace."""
    doc = next(d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d and d["metadata"]["name"] == name)
    return kit.runbook(doc["spec"], name=name)


def deploy_with(kit: Kit, name: str, replicas: int = 1, container: dict[str, Any] | None = None, **pod: Any) -> None:
    """A Deployment whose pod spec (and first container) has the given fields."""
    body = deployment(name, replicas)
    body["spec"]["template"]["spec"].update(pod)
    body["spec"]["template"]["spec"]["containers"][0].update(container or {})
    kit.clients.apps.create_namespaced_deployment(kit.namespace, body)
    kit.wait_rolled_out(name, replicas)


def policy_events(kit: Kit, since: str, until_deleted: str) -> list[tuple[str, Any]]:
    """The NetworkPolicy events of the namespace since resourceVersion ``since``, up to the deletion of one."""
    seen: list[tuple[str, Any]] = []
    stream = watch.Watch()
    for event in stream.stream(
        kit.clients.networking.list_namespaced_network_policy, kit.namespace, resource_version=since, timeout_seconds=30
    ):
        seen.append((event["type"], event["object"]))
        if event["type"] == "DELETED" and event["object"].metadata.name == until_deleted:
            stream.stop()
    return seen


def template_annotations(kit: Kit, name: str) -> dict[str, str]:
    return dict(kit.deployment(name)["spec"]["template"]["metadata"].get("annotations") or {})


def test_candlefish_breach_isolates_restarts_the_consumers_and_releases(paramedic: Kit) -> None:
    api = paramedic.clients
    api.core.create_namespaced_secret(paramedic.namespace, {"metadata": {"name": "collab-db"}, "data": {}})
    deploy_with(paramedic, "collab-api", container={"envFrom": [{"secretRef": {"name": "collab-db"}}]})
    volume = {"name": "db", "secret": {"secretName": "collab-db"}}
    deploy_with(paramedic, "collab-worker", volumes=[volume])
    deploy_with(paramedic, "collab-web")
    untouched = paramedic.deployment("collab-web")["metadata"]["generation"]
    since = api.networking.list_namespaced_network_policy(paramedic.namespace).metadata.resource_version

    runbook = example_runbook(paramedic, "breach-response")
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "collab-api"}, reason="collab-db leaked")
    status = paramedic.wait_phase(rem, "Succeeded", timeout=120)

    isolate, _, restart, release = status["steps"]
    name = isolate["changes"]["networkPolicy"]["name"]
    events = policy_events(paramedic, since, until_deleted=name)
    assert [(kind, obj.metadata.name) for kind, obj in events] == [("ADDED", name), ("DELETED", name)]
    made = events[0][1]
    assert made.spec.pod_selector.match_labels == {"app": "collab-api"}
    assert sorted(made.spec.policy_types) == ["Egress", "Ingress"]
    assert not made.spec.ingress  # deny-all
    assert not made.spec.egress
    owner = made.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid) == ("Remediation", rem, paramedic.get(rem)["metadata"]["uid"])
    assert release["changes"]["deleted"] is True
    assert api.networking.list_namespaced_network_policy(paramedic.namespace).items == []

    assert restart["changes"]["consumers"] == [
        {"kind": "Deployment", "name": "collab-api"},
        {"kind": "Deployment", "name": "collab-worker"},
    ]
    stamp = restart["changes"]["templateAnnotations"][RESTARTED_AT]
    for consumer in ("collab-api", "collab-worker"):
        assert template_annotations(paramedic, consumer)[RESTARTED_AT] == stamp
        assert template_annotations(paramedic, consumer)[RESTARTED_BY] == f"{paramedic.get(rem)['metadata']['uid']}/2"
    assert RESTARTED_AT not in template_annotations(paramedic, "collab-web")
    assert paramedic.deployment("collab-web")["metadata"]["generation"] == untouched


def test_restart_consumers_of_a_config_map(paramedic: Kit) -> None:
    projected = {"name": "cfg", "projected": {"sources": [{"configMap": {"name": "router-config"}}]}}
    deploy_with(paramedic, "router", volumes=[projected])
    # A Secret of the same name is another thing: its user is no consumer of the ConfigMap.
    deploy_with(paramedic, "other", container={"envFrom": [{"secretRef": {"name": "router-config"}}]})
    # A StatefulSet and a DaemonSet that read it through env: consumers too, restarted and waited for alike.
    env = [{"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "router-config", "key": "level"}}}]
    pod = {"metadata": {"labels": {"app": "cache"}}, "spec": {"containers": [{"name": "c", "image": "i", "env": env}]}}
    spec = {"selector": {"matchLabels": {"app": "cache"}}, "template": pod}
    apps = paramedic.clients.apps
    apps.create_namespaced_stateful_set(
        paramedic.namespace, {"metadata": {"name": "cache"}, "spec": {**spec, "serviceName": "cache", "replicas": 1}}
    )
    apps.create_namespaced_daemon_set(paramedic.namespace, {"metadata": {"name": "agent"}, "spec": spec})
    runbook = paramedic.runbook({"steps": [{"restartConsumersOf": {"configMap": "router-config"}}]})
    status = paramedic.wait_phase(paramedic.remediation(runbook, {**DEPLOYMENT, "name": "other"}), "Succeeded")
    assert status["steps"][0]["changes"]["consumers"] == [
        {"kind": "DaemonSet", "name": "agent"},
        {"kind": "Deployment", "name": "router"},
        {"kind": "StatefulSet", "name": "cache"},
    ]
    assert RESTARTED_AT in template_annotations(paramedic, "router")
    restarted = (
        apps.read_namespaced_stateful_set("cache", paramedic.namespace),
        apps.read_namespaced_daemon_set("agent", paramedic.namespace),
    )
    for workload in restarted:
        assert RESTARTED_AT in (workload.spec.template.metadata.annotations or {})
    assert RESTARTED_AT not in template_annotations(paramedic, "other")


def test_scale_to_zero_then_restore_the_recorded_replicas(paramedic: Kit) -> None:
    paramedic.deploy("collab-api", replicas=3)
    runbook = example_runbook(paramedic, "breach-stop-and-restore")
    status = paramedic.wait_phase(
        paramedic.remediation(runbook, {**DEPLOYMENT, "name": "collab-api"}), "Succeeded", timeout=120
    )
    stop, _, restore = status["steps"]
    assert stop["changes"] == {"from": 3, "to": 0}
    assert restore["changes"] == {"from": 0, "to": 3}
    paramedic.wait_rolled_out("collab-api", 3)


def test_scale_to_zero_refuses_to_fight_an_hpa(paramedic: Kit) -> None:
    """As any scale: an HPA would undo spec.replicas: 0 within seconds, so the step says so and changes nothing."""
    paramedic.deploy("collab-api", replicas=2)
    create_hpa(paramedic, "collab-api", "collab-api", 2, 4)
    runbook = example_runbook(paramedic, "breach-stop-and-restore")
    status = paramedic.wait_phase(paramedic.remediation(runbook, {**DEPLOYMENT, "name": "collab-api"}), "Failed")
    assert status["steps"][0]["reason"] == "OwnedByHPA"
    assert len(status["steps"]) == 1
    assert paramedic.deployment("collab-api")["spec"]["replicas"] == 2


def test_restore_needs_a_scale_step_of_the_same_workload(paramedic: Kit) -> None:
    paramedic.deploy("collab-api", replicas=2)
    paramedic.deploy("collab-web", replicas=1)
    runbook = paramedic.runbook(
        {
            "steps": [
                {"name": "stop", "scale": {"replicas": 0}, "verify": {"check": "None"}},
                {"scale": {"restoreFrom": "stop"}, "target": {**DEPLOYMENT, "name": "collab-web"}},
            ]
        }
    )
    status = paramedic.wait_phase(paramedic.remediation(runbook, {**DEPLOYMENT, "name": "collab-api"}), "Failed")
    assert status["steps"][1]["reason"] == "NoRecord"
    assert "not Deployment/" in status["steps"][1]["message"]
    assert paramedic.deployment("collab-web")["spec"]["replicas"] == 1


def test_isolate_keep_block_sources_and_owned_policies(paramedic: Kit) -> None:
    api = paramedic.clients
    paramedic.deploy("router", replicas=1)
    runbook = paramedic.runbook(
        {
            "steps": [
                {
                    "name": "block",
                    "isolate": {
                        "mode": "BlockSources",
                        "blockCidrs": ["203.0.113.0/24"],
                        "podSelector": {"matchLabels": {"tier": "edge"}},
                        "keep": True,
                    },
                },
                {
                    "name": "allow",
                    "isolate": {
                        "mode": "AllowList",
                        "directions": ["Egress"],
                        "allow": [{"direction": "Egress", "ports": [53], "protocol": "UDP"}],
                    },
                },
            ]
        }
    )
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "router"})
    status = paramedic.wait_phase(rem, "Succeeded")
    kept, owned = (s["changes"]["networkPolicy"]["name"] for s in status["steps"])
    block = api.networking.read_namespaced_network_policy(kept, paramedic.namespace)
    assert block.metadata.owner_references is None
    assert block.spec.pod_selector.match_labels == {"tier": "edge"}
    assert block.spec.policy_types == ["Ingress"]
    ip_block = block.spec.ingress[0]._from[0].ip_block
    assert (ip_block.cidr, ip_block._except) == ("0.0.0.0/0", ["203.0.113.0/24"])
    allow = api.networking.read_namespaced_network_policy(owned, paramedic.namespace)
    assert allow.spec.policy_types == ["Egress"]
    assert [(p.port, p.protocol) for p in allow.spec.egress[0].ports] == [(53, "UDP")]

    # Deleting the Remediation takes the policy it owns (the garbage collector), not the kept one.
    api.custom.delete_namespaced_custom_object("paramedic.dev", "v1alpha1", paramedic.namespace, "remediations", rem)

    def gone() -> bool:
        try:
            api.networking.read_namespaced_network_policy(owned, paramedic.namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_until(gone, 60, f"NetworkPolicy {owned} to be collected with its Remediation")
    assert api.networking.read_namespaced_network_policy(kept, paramedic.namespace).metadata.name == kept


def test_release_deletes_nothing_but_the_policy_its_isolate_step_made(paramedic: Kit) -> None:
    """The recorded policy replaced by someone else's of the same name while the Remediation waits: kept."""
    api = paramedic.clients
    paramedic.deploy("collab-api", replicas=1)
    gate = f"paramedic.dev/gate-{uuid.uuid4().hex[:6]}"
    steps = [{"name": "isolate", "isolate": {}}, gated_job(gate), {"release": {"fromStep": "isolate"}}]
    rem = paramedic.remediation(paramedic.runbook({"steps": steps}), {**DEPLOYMENT, "name": "collab-api"})
    wait_until(lambda: len(paramedic.status(rem).get("steps") or []) == 2, 60, "step 2 to wait on its Job")
    name = paramedic.status(rem)["steps"][0]["changes"]["networkPolicy"]["name"]
    api.networking.delete_namespaced_network_policy(name, paramedic.namespace)
    theirs = {"metadata": {"name": name}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    api.networking.create_namespaced_network_policy(paramedic.namespace, theirs)
    api.core.patch_node("kwok-node-0", {"metadata": {"labels": {gate: "open"}}})
    try:
        status = paramedic.wait_phase(rem, "Failed", timeout=90)
    finally:
        api.core.patch_node("kwok-node-0", {"metadata": {"labels": {gate: None}}})
    assert status["steps"][2]["reason"] == "NotOurs"
    kept = api.networking.read_namespaced_network_policy(name, paramedic.namespace)
    assert kept.spec.pod_selector.match_labels is None  # theirs, still there


@pytest.fixture
def victim(victim: str, paramedic: Kit) -> str:
    """Another team's namespace (conftest's) with a Deployment that uses its own Secret db."""
    deploy_with(paramedic.at(victim), "coredns", container={"envFrom": [{"secretRef": {"name": "db"}}]})
    return victim


def test_a_tenant_cannot_isolate_or_restart_consumers_in_another_namespace(
    paramedic: Kit, tenant: Kit, victim: str
) -> None:
    tenant.deploy("api", replicas=1)
    elsewhere = {**DEPLOYMENT, "name": "coredns", "namespace": victim}
    for step in ({"isolate": {}}, {"restartConsumersOf": {"secret": "db"}}):
        runbook = tenant.runbook({"steps": [{**step, "target": elsewhere}]})
        status = tenant.wait_phase(tenant.remediation(runbook, {**DEPLOYMENT, "name": "api"}), "Failed")
        assert status["steps"][0]["reason"] == "NamespaceNotAllowed", status
    assert paramedic.clients.networking.list_namespaced_network_policy(victim).items == []
    assert paramedic.at(victim).deployment("coredns")["metadata"]["generation"] == 1
    # In its own namespace, the same step finds only its own consumers: the victim's Secret db is not its.
    runbook = tenant.runbook({"steps": [{"restartConsumersOf": {"secret": "db"}}]})
    status = tenant.wait_phase(tenant.remediation(runbook, {**DEPLOYMENT, "name": "api"}), "Succeeded")
    assert status["steps"][0]["changes"]["consumers"] == []
    assert paramedic.at(victim).deployment("coredns")["metadata"]["generation"] == 1
