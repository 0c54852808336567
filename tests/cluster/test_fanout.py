"""Target sets (issue #17): one step fanned out over every matching object, on the real API server.

A fanned-out step restarts exactly the objects its selector picks in the runbook's scope, at most
maxConcurrency at a time, stops at maxErrors, survives the operator being killed half-way without acting
twice on a target, keeps a tenant in its namespace, and spends the rate-limit budget target by target.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml

from paramedic.actions.rollout_restart import RESTARTED_BY
from paramedic.api.common import API_VERSION, GROUP, VERSION
from paramedic.kube import Clients
from paramedic_dev.cluster import DevCluster
from paramedic_dev.install import ensure_namespace
from tests.cluster.conftest import OPERATOR_NAMESPACE
from tests.cluster.test_cli import cli
from tests.kit import Kit, deployment, statefulset
from tests.waiting import wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "paintbox" / "runbook-restart-subgraphs.yaml"
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment"}


def deploy(kit: Kit, name: str, labels: dict[str, str], replicas: int = 1) -> None:
    body = deployment(name, replicas)
    body["metadata"].setdefault("labels", {}).update(labels)
    kit.clients.apps.create_namespaced_deployment(kit.namespace, body)
    kit.wait_rolled_out(name, replicas)


def restarted_by(clients: Clients, namespace: str, name: str) -> str | None:
    d = clients.apps.read_namespaced_deployment(name, namespace)
    return (d.spec.template.metadata.annotations or {}).get(RESTARTED_BY)


def revisions(clients: Clients, namespace: str, app: str) -> set[str]:
    found = clients.apps.list_namespaced_replica_set(namespace, label_selector=f"app={app}").items
    return {rs.metadata.annotations["deployment.kubernetes.io/revision"] for rs in found}


def other_namespace(clients: Clients) -> str:
    name = f"t-other-{uuid.uuid4().hex[:6]}"
    ensure_namespace(clients, name)
    wait_until(lambda: clients.core.list_namespaced_service_account(name).items, 30, "the default ServiceAccount")
    return name


def example_runbook() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return dict(doc["spec"])


def _targets(status: dict[str, Any]) -> list[dict[str, Any]]:
    return list(status["steps"][0].get("targets") or [])


def test_the_example_restarts_every_labelled_deployment_of_its_namespace_two_at_a_time(
    paramedic: Kit, clients: Clients
) -> None:
    """examples/paintbox/runbook-restart-subgraphs.yaml: the four subgraphs are restarted, each once, never more
    than two in flight; the router (unlabelled) and another namespace's subgraph are left alone."""
    for name in ("accounts", "inventory", "products", "reviews"):
        deploy(paramedic, name, {"tier": "subgraph"})
    deploy(paramedic, "router", {"tier": "edge"})
    elsewhere = other_namespace(clients)
    deploy(paramedic.at(elsewhere), "accounts", {"tier": "subgraph"})
    try:
        runbook = paramedic.runbook(example_runbook(), name="restart-subgraphs")
        rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "accounts"})
        seen_in_flight: list[int] = []

        def ended() -> dict[str, Any] | None:
            status = paramedic.status(rem)
            if status.get("steps"):
                seen_in_flight.append(sum(1 for t in _targets(status) if t["phase"] in ("Applying", "Verifying")))
            return status if status.get("phase") in ("Succeeded", "Failed") else None

        status = wait_until(ended, 120, "the fan-out to end", every=0.05)
        assert status["phase"] == "Succeeded", status
        uid = paramedic.get(rem)["metadata"]["uid"]
        targets = _targets(status)
        assert [t["target"]["name"] for t in targets] == ["accounts", "inventory", "products", "reviews"]
        assert {t["phase"] for t in targets} == {"Succeeded"}
        assert all(t["attempts"] == 1 and t["changes"]["templateAnnotations"] for t in targets)
        assert max(seen_in_flight) <= 2
        for name in ("accounts", "inventory", "products", "reviews"):
            assert restarted_by(clients, paramedic.namespace, name) == f"{uid}/0"
            assert revisions(clients, paramedic.namespace, name) == {"1", "2"}  # one restart each
        assert restarted_by(clients, paramedic.namespace, "router") is None
        assert restarted_by(clients, elsewhere, "accounts") is None
        assert "4 succeeded of 4 targets" in status["steps"][0]["message"]
    finally:
        clients.core.delete_namespace(elsewhere)


def test_max_errors_stops_starting_targets_and_fails_the_step(
    paramedic: Kit, clients: Clients, cluster: DevCluster
) -> None:
    """rollback fails on a Deployment without an earlier revision: with maxErrors 1, the second failure stops
    the step; the targets after it are never started. ``paramedic history NAME`` shows each target's outcome."""
    for name in ("f1", "f2", "f3", "f4"):
        deploy(paramedic, name, {"batch": "x"})
    body = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "registry.invalid/app:2"}]}}}}
    clients.apps.patch_namespaced_deployment("f2", paramedic.namespace, body)  # f2 has a revision to go back to
    paramedic.wait_rolled_out("f2", 1)
    fan = {"kinds": ["Deployment"], "selector": {"matchLabels": {"batch": "x"}}, "maxConcurrency": 1, "maxErrors": 1}
    runbook = paramedic.runbook({"steps": [{"rollback": {}, "fanOut": fan, "verify": {"check": "None"}}]})
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "f1"})
    status = paramedic.wait_phase(rem, "Failed", timeout=90)
    targets = _targets(status)
    assert [(t["target"]["name"], t["phase"]) for t in targets] == [
        ("f1", "Failed"),
        ("f2", "Succeeded"),
        ("f3", "Failed"),
        ("f4", "Skipped"),
    ]
    assert status["steps"][0]["reason"] == "MaxErrorsExceeded"
    assert "maxErrors 1" in status["message"]
    assert revisions(clients, paramedic.namespace, "f4") == {"1"}
    shown = cli(cluster, "history", rem, "-n", paramedic.namespace).stdout.splitlines()
    lines = {
        name: next(line for line in shown if f"Deployment {paramedic.namespace}/{name}:" in line)
        for name in ("f1", "f2", "f4")
    }
    assert "Failed" in lines["f1"], shown
    assert "Succeeded" in lines["f2"], shown
    assert "Skipped" in lines["f4"], shown


def test_a_killed_operator_does_not_restart_a_finished_target_twice(paramedic: Kit, clients: Clients) -> None:
    """Kill -9 the operator once the first target is done and the second under way: the new one finishes the
    set from the record, and every Deployment was restarted exactly once."""
    names = ("g1", "g2", "g3")
    for name in names:
        deploy(paramedic, name, {"group": "g"})
    selector = {"matchExpressions": [{"key": "group", "operator": "In", "values": ["g"]}]}
    fan = {"kinds": ["Deployment"], "selector": selector, "maxConcurrency": 1}
    verify = {"check": "RolloutComplete", "stableFor": "3s"}  # each target takes a few seconds: room to kill
    runbook = paramedic.runbook({"steps": [{"rolloutRestart": {}, "fanOut": fan, "verify": verify}]})
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "g1"})

    def half_way() -> list[dict[str, Any]] | None:
        targets = _targets(paramedic.status(rem)) if paramedic.status(rem).get("steps") else []
        if targets and targets[0]["phase"] == "Succeeded" and targets[1]["phase"] in ("Applying", "Verifying"):
            return targets
        return None

    before = wait_until(half_way, 90, "the first target done and the second under way", every=0.05)
    paramedic.operator.kill()
    paramedic.operator.start_and_wait()
    status = paramedic.wait_phase(rem, "Succeeded", timeout=90)
    targets = _targets(status)
    assert targets[0] == before[0]  # the finished target's record is untouched
    assert targets[2]["attempts"] == 1  # started by the new operator, once
    assert targets[1]["changes"]["templateAnnotations"] == before[1]["changes"]["templateAnnotations"]
    for name in names:
        assert revisions(clients, paramedic.namespace, name) == {"1", "2"}  # one restart each, none twice


def test_a_tenant_cannot_fan_out_into_another_namespace(tenant: Kit, paramedic: Kit, clients: Clients) -> None:
    """As the namespace's user: a Runbook, and a shared ClusterRunbook without target.namespaces, fan out in the
    tenant's namespace only, though the same labels exist elsewhere."""
    deploy(paramedic, "web", {"fleet": "f"})
    elsewhere = other_namespace(clients)
    deploy(paramedic.at(elsewhere), "web", {"fleet": "f"})
    fan = {"kinds": ["Deployment"], "selector": {"matchLabels": {"fleet": "f"}}}
    step = {"rolloutRestart": {}, "fanOut": fan, "verify": {"check": "None"}}
    crb = paramedic.cluster_runbook(
        {
            "allowedNamespaces": {"matchLabels": {"kubernetes.io/metadata.name": paramedic.namespace}},
            "steps": [step],
        }
    )
    try:
        runbook = tenant.runbook({"steps": [step]})
        mine = tenant.wait_phase(tenant.remediation(runbook, {**DEPLOYMENT, "name": "web"}), "Succeeded")
        shared = tenant.wait_phase(
            tenant.remediation(crb, {**DEPLOYMENT, "name": "web"}, kind="ClusterRunbook"), "Succeeded"
        )
        for status in (mine, shared):
            assert [t["target"]["namespace"] for t in _targets(status)] == [paramedic.namespace]
        assert restarted_by(clients, elsewhere, "web") is None
    finally:
        clients.custom.delete_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", crb)
        clients.core.delete_namespace(elsewhere)


def test_the_budget_counts_each_target(paramedic: Kit, clients: Clients) -> None:
    """A shared ClusterRunbook spends its RateLimitPolicy once per object acted on: the Remediation's target at
    acceptance, then each other target of its set. Four targets do not fit a budget of 3: RateLimited, nothing
    restarted; three do, and the ledger holds one entry per target."""
    policy = f"fan-{uuid.uuid4().hex[:6]}"
    clients.custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        OPERATOR_NAMESPACE,
        "ratelimitpolicies",
        {
            "apiVersion": API_VERSION,
            "kind": "RateLimitPolicy",
            "metadata": {"name": policy},
            "spec": {"windows": [{"max": 3, "per": "1h", "scope": "Runbook"}], "cooldown": "0s"},
        },
    )
    for name in ("b1", "b2", "b3", "b4"):
        deploy(paramedic, name, {"set": "four", **({"three": "yes"} if name != "b4" else {})})

    def crb(labels: dict[str, str]) -> str:
        fan = {"kinds": ["Deployment"], "selector": {"matchLabels": labels}, "maxConcurrency": 4}
        return paramedic.cluster_runbook(
            {
                "allowedNamespaces": {"matchLabels": {"kubernetes.io/metadata.name": paramedic.namespace}},
                "rateLimitPolicyRef": {"name": policy},
                "steps": [{"rolloutRestart": {}, "fanOut": fan, "verify": {"check": "None"}}],
            }
        )

    four, three = crb({"set": "four"}), crb({"three": "yes"})
    try:
        refused = paramedic.wait_phase(
            paramedic.remediation(four, {**DEPLOYMENT, "name": "b1"}, kind="ClusterRunbook"), "RateLimited"
        )
        assert "3 more targets asked" in refused["message"]
        assert all(restarted_by(clients, paramedic.namespace, n) is None for n in ("b1", "b2", "b3", "b4"))
        rem = paramedic.remediation(three, {**DEPLOYMENT, "name": "b1"}, kind="ClusterRunbook")
        paramedic.wait_phase(rem, "Succeeded")
        ledger = clients.custom.get_namespaced_custom_object(
            GROUP, VERSION, OPERATOR_NAMESPACE, "ratelimitpolicies", policy
        )["status"]["ledger"]
        spent = sorted(e["target"] for e in ledger if e["remediation"] == f"{paramedic.namespace}/{rem}")
        ns = paramedic.namespace
        assert spent == [f"Deployment/{ns}/b1", f"Deployment/{ns}/b2", f"Deployment/{ns}/b3"]
        assert restarted_by(clients, paramedic.namespace, "b4") is None
    finally:
        for name in (four, three):
            clients.custom.delete_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", name)
        clients.custom.delete_namespaced_custom_object(GROUP, VERSION, OPERATOR_NAMESPACE, "ratelimitpolicies", policy)


def test_a_dry_run_plans_every_target_and_changes_nothing(paramedic: Kit, clients: Clients) -> None:
    for name in ("d1", "d2", "d3"):
        deploy(paramedic, name, {"dry": "run"})
    fan = {"kinds": ["Deployment"], "selector": {"matchLabels": {"dry": "run"}}, "maxConcurrency": 1}
    runbook = paramedic.runbook({"dryRun": True, "steps": [{"scale": {"by": 1}, "fanOut": fan}]})
    status = paramedic.wait_phase(paramedic.remediation(runbook, {**DEPLOYMENT, "name": "d1"}), "DryRun")
    targets = _targets(status)
    assert [(t["target"]["name"], t["phase"], t["changes"]) for t in targets] == [
        (name, "DryRun", {"from": 1, "to": 2}) for name in ("d1", "d2", "d3")
    ]
    assert status["steps"][0]["plan"].startswith("3 of 3 targets: ")
    for name in ("d1", "d2", "d3"):
        assert paramedic.deployment(name)["spec"]["replicas"] == 1


def test_a_cluster_runbook_fans_out_over_the_namespaces_its_scope_admits(paramedic: Kit, clients: Clients) -> None:
    """From the operator's namespace, a ClusterRunbook's set spans the namespaces target.namespaces admits, and
    every kind fanOut.kinds names; a namespace it does not admit keeps its objects untouched."""
    mark = f"fan-{uuid.uuid4().hex[:6]}"
    clients.core.patch_namespace(paramedic.namespace, {"metadata": {"labels": {mark: "yes"}}})
    admitted, left_out = other_namespace(clients), other_namespace(clients)
    clients.core.patch_namespace(admitted, {"metadata": {"labels": {mark: "yes"}}})
    for kit in (paramedic, paramedic.at(admitted), paramedic.at(left_out)):
        deploy(kit, "cache", {"role": "cache"})
    clients.apps.create_namespaced_stateful_set(paramedic.namespace, statefulset("pg", {"role": "cache"}))
    fan = {"kinds": ["Deployment", "StatefulSet"], "selector": {"matchLabels": {"role": "cache"}}, "maxConcurrency": 3}
    crb = paramedic.cluster_runbook(
        {
            "target": {"namespaces": {"matchLabels": {mark: "yes"}}},
            "steps": [{"scale": {"by": 1}, "fanOut": fan, "verify": {"check": "None"}}],
        }
    )
    try:
        ops = paramedic.at(OPERATOR_NAMESPACE)
        target = {**DEPLOYMENT, "name": "cache", "namespace": paramedic.namespace}
        status = ops.wait_phase(ops.remediation(crb, target, kind="ClusterRunbook"), "Succeeded")
        got = [(t["target"]["kind"], t["target"]["namespace"], t["target"]["name"]) for t in _targets(status)]
        assert got == sorted(
            [
                ("Deployment", admitted, "cache"),
                ("Deployment", paramedic.namespace, "cache"),
                ("StatefulSet", paramedic.namespace, "pg"),
            ]
        )
        assert clients.apps.read_namespaced_stateful_set("pg", paramedic.namespace).spec.replicas == 2
        for ns, replicas in ((paramedic.namespace, 2), (admitted, 2), (left_out, 1)):
            assert clients.apps.read_namespaced_deployment("cache", ns).spec.replicas == replicas
    finally:
        clients.custom.delete_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", crb)
        for ns in (admitted, left_out):
            clients.core.delete_namespace(ns)
