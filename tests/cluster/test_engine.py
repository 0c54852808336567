"""The engine's guarantees: refusals, dry-run, approval, step ordering, and
resuming after the operator is killed without repeating an action."""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import pytest

from paramedic.api.common import GROUP, VERSION
from paramedic_dev import simulate
from paramedic_dev.cluster import DevCluster
from tests.cluster.conftest import APPROVER_GROUP
from tests.kit import Kit, gated_job, statefulset
from tests.waiting import wait_until

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment"}


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


# -- refusals -------------------------------------------------------------------------------


def test_missing_runbook_fails_with_a_condition(paramedic: Kit) -> None:
    rem = paramedic.remediation("no-such-runbook", {**DEPLOYMENT, "name": "x"})
    status = paramedic.wait_phase(rem, "Failed")
    accepted = _condition(status, "Accepted")
    assert accepted["status"] == "False"
    assert accepted["reason"] == "RunbookNotFound"
    assert "no-such-runbook" in accepted["message"]


def test_missing_target_is_skipped(paramedic: Kit) -> None:
    runbook = paramedic.runbook({"steps": [{"rolloutRestart": {}}]})
    status = paramedic.wait_phase(paramedic.remediation(runbook, {**DEPLOYMENT, "name": "ghost"}), "Skipped")
    assert _condition(status, "Accepted")["reason"] == "TargetNotFound"


def test_action_not_applicable_to_the_target_kind(paramedic: Kit) -> None:
    paramedic.clients.apps.create_namespaced_stateful_set(paramedic.namespace, statefulset("pg"))
    runbook = paramedic.runbook({"steps": [{"rollback": {}}]})
    status = paramedic.wait_phase(
        paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "pg"}), "Failed"
    )
    assert status["steps"][0]["reason"] == "NotApplicable"
    assert "rollback works on Deployment" in status["message"]


def test_runbook_cannot_reach_into_another_namespace(paramedic: Kit, core: Any) -> None:
    runbook = paramedic.runbook({"steps": [{"rolloutRestart": {}}]})
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "coredns", "namespace": "kube-system"})
    status = paramedic.wait_phase(rem, "Failed")
    assert _condition(status, "Accepted")["reason"] == "NamespaceNotAllowed"


def test_runbook_cannot_act_on_nodes(paramedic: Kit) -> None:
    runbook = paramedic.runbook(
        {
            "steps": [
                {
                    "runJob": {
                        "template": {
                            "spec": {
                                "template": {"spec": {"containers": [{"name": "x", "image": "registry.invalid/x:1"}]}}
                            }
                        }
                    }
                }
            ]
        }
    )
    status = paramedic.wait_phase(paramedic.remediation(runbook, {"kind": "Node", "name": "kwok-node-0"}), "Failed")
    assert _condition(status, "Accepted")["reason"] == "ClusterRunbookRequired"


def test_cluster_runbook_only_from_allowed_namespaces(paramedic: Kit) -> None:
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.cluster_runbook(
        {
            "allowedNamespaces": {"matchLabels": {"team": "platform"}},
            "steps": [{"rolloutRestart": {}}],
        }
    )
    status = paramedic.wait_phase(
        paramedic.remediation(runbook, {**DEPLOYMENT, "name": "api"}, kind="ClusterRunbook"), "Failed"
    )
    assert _condition(status, "Accepted")["reason"] == "NamespaceNotAllowed"
    assert paramedic.deployment("api")["metadata"]["generation"] == 1

    paramedic.clients.core.patch_namespace(paramedic.namespace, {"metadata": {"labels": {"team": "platform"}}})
    paramedic.wait_phase(
        paramedic.remediation(runbook, {**DEPLOYMENT, "name": "api"}, kind="ClusterRunbook"), "Succeeded"
    )
    assert paramedic.deployment("api")["metadata"]["generation"] == 2


def test_target_must_match_the_runbook_selector(paramedic: Kit) -> None:
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook(
        {
            "target": {"kinds": ["Deployment"], "selector": {"matchLabels": {"tier": "web"}}},
            "steps": [{"rolloutRestart": {}}],
        }
    )
    status = paramedic.wait_phase(paramedic.remediation(runbook, {**DEPLOYMENT, "name": "api"}), "Failed")
    assert _condition(status, "Accepted")["reason"] == "TargetNotAccepted"


# -- dry run and approval -------------------------------------------------------------------


def test_dry_run_records_the_plan_and_writes_nothing(paramedic: Kit) -> None:
    paramedic.deploy("api", replicas=2, memory="256Mi")
    before = paramedic.deployment("api")["metadata"]["resourceVersion"]
    runbook = paramedic.runbook(
        {"steps": [{"rolloutRestart": {}}, {"scale": {"by": 3}}, {"raiseMemoryLimit": {"cap": "1Gi"}}]}
    )
    status = paramedic.wait_phase(paramedic.remediation(runbook, {**DEPLOYMENT, "name": "api"}, dryRun=True), "DryRun")
    assert [s["phase"] for s in status["steps"]] == ["DryRun"] * 3
    assert status["steps"][1]["changes"] == {"from": 2, "to": 5}
    assert status["steps"][2]["changes"]["containers"]["app"] == {"from": "256Mi", "to": "384Mi"}
    assert "would scale Deployment" in status["steps"][1]["message"]
    assert paramedic.deployment("api")["metadata"]["resourceVersion"] == before


def test_approval_gates_the_action(paramedic: Kit) -> None:
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook(
        {"requiresApproval": True, "approvers": {"groups": [APPROVER_GROUP]}, "steps": [{"scale": {"replicas": 3}}]}
    )
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "api"})
    status = paramedic.wait_phase(rem, "AwaitingApproval")
    assert _condition(status, "Approved")["status"] == "False"
    assert paramedic.deployment("api")["spec"]["replicas"] == 1

    paramedic.approve(rem)
    status = paramedic.wait_phase(rem, "Succeeded")
    assert _condition(status, "Approved")["status"] == "True"
    assert paramedic.deployment("api")["spec"]["replicas"] == 3


# -- step ordering --------------------------------------------------------------------------


def test_until_verified_restart_fails_then_rollback_fixes(paramedic: Kit) -> None:
    """A bad release (pods cannot be placed): restarting does not help, rolling back does."""
    paramedic.deploy("shop", replicas=1)
    paramedic.clients.apps.patch_namespaced_deployment(
        "shop",
        paramedic.namespace,
        {"spec": {"template": {"spec": {"nodeSelector": {simulate.UNSCHEDULABLE_LABEL: "true"}}}}},
    )
    runbook = paramedic.runbook(
        {
            "mode": "UntilVerified",
            "steps": [
                {"name": "restart", "rolloutRestart": {}, "verify": {"timeout": "3s"}},
                {"name": "rollback", "rollback": {}, "verify": {"timeout": "60s"}},
            ],
        }
    )
    status = paramedic.wait_phase(paramedic.remediation(runbook, {**DEPLOYMENT, "name": "shop"}), "Succeeded")
    assert [(s["name"], s["phase"]) for s in status["steps"]] == [("restart", "Failed"), ("rollback", "Succeeded")]
    assert status["steps"][0]["reason"] == "VerificationFailed"
    assert "nodeSelector" not in paramedic.deployment("shop")["spec"]["template"]["spec"]


def test_all_in_order_stops_at_the_first_failure(paramedic: Kit) -> None:
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook({"steps": [{"rollback": {}}, {"scale": {"replicas": 4}}]})
    status = paramedic.wait_phase(paramedic.remediation(runbook, {**DEPLOYMENT, "name": "api"}), "Failed")
    assert len(status["steps"]) == 1
    assert status["steps"][0]["reason"] == "NoRevision"
    assert paramedic.deployment("api")["spec"]["replicas"] == 1


# -- restart safety -------------------------------------------------------------------------


def test_killed_operator_resumes_without_repeating_an_action(paramedic: Kit, cluster: DevCluster) -> None:
    """Kill -9 the operator while step 3 waits; the new one finishes, and each action happened once."""
    paramedic.deploy("api", replicas=2)
    gate = f"paramedic.dev/gate-{uuid.uuid4().hex[:6]}"
    runbook = paramedic.runbook(
        {
            "steps": [
                {"scale": {"by": 2}},
                {"rolloutRestart": {}},
                # The Job's pod can only run once the test labels a node: the step waits until then.
                gated_job(gate),
            ]
        }
    )
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "api"})
    wait_until(
        lambda: (
            len(paramedic.status(rem).get("steps") or []) == 3
            and "running" in paramedic.status(rem)["steps"][2]["message"]
        ),
        60,
        "step 3 to be waiting on its Job",
    )

    paramedic.operator.kill()
    paramedic.operator.start_and_wait()
    paramedic.clients.core.patch_node("kwok-node-0", {"metadata": {"labels": {gate: "open"}}})
    try:
        status = paramedic.wait_phase(rem, "Succeeded", timeout=90)
    finally:
        paramedic.clients.core.patch_node("kwok-node-0", {"metadata": {"labels": {gate: None}}})

    assert [s["attempts"] for s in status["steps"][:2]] == [1, 1]
    assert paramedic.deployment("api")["spec"]["replicas"] == 4  # +2 once, not twice
    revisions = {
        rs.metadata.annotations["deployment.kubernetes.io/revision"]
        for rs in paramedic.clients.apps.list_namespaced_replica_set(
            paramedic.namespace, label_selector="app=api"
        ).items
    }
    assert revisions == {"1", "2"}  # one restart, one new ReplicaSet
    jobs = paramedic.clients.batch.list_namespaced_job(paramedic.namespace).items
    assert len(jobs) == 1


def test_operator_restart_at_every_step_boundary(paramedic: Kit) -> None:
    """Restart the operator as soon as each step's intent is recorded: still exactly once each."""
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook(
        {
            "steps": [
                {"scale": {"by": 1}, "verify": {"check": "None"}},
                {"scale": {"by": 1}, "verify": {"check": "None"}},
                {"scale": {"by": 1}, "verify": {"check": "None"}},
            ]
        }
    )
    paramedic.operator.kill()
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "api"})
    for _ in range(3):
        paramedic.operator.start_and_wait()
        seen = len(paramedic.status(rem).get("steps") or [])
        wait_until(
            lambda seen=seen: (  # type: ignore[misc]
                paramedic.status(rem).get("phase") == "Succeeded"
                or len(paramedic.status(rem).get("steps") or []) > seen
            ),
            30,
            "the next step's intent",
        )
        paramedic.operator.kill()
    paramedic.operator.start_and_wait()
    status = paramedic.wait_phase(rem, "Succeeded")
    assert [s["changes"] for s in status["steps"]] == [{"from": 1, "to": 2}, {"from": 2, "to": 3}, {"from": 3, "to": 4}]
    assert paramedic.deployment("api")["spec"]["replicas"] == 4


# -- what people see ------------------------------------------------------------------------


def test_kubectl_get_rem_shows_a_readable_history(paramedic: Kit, cluster: DevCluster) -> None:
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook({"steps": [{"scale": {"replicas": 2}}]}, name="scale-api")
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "api"}, reason="load")
    paramedic.wait_phase(rem, "Succeeded")
    out = subprocess.run(
        [str(cluster.bin["kubectl"]), "get", "rem", "-A"], env=cluster.env(), capture_output=True, text=True, check=True
    ).stdout
    header, *rows = out.splitlines()
    assert header.split()[:5] == ["NAMESPACE", "NAME", "PHASE", "TARGET", "RUNBOOK"]
    row = next(r for r in rows if rem in r).split()
    assert row[2:5] == ["Succeeded", f"Deployment/{paramedic.namespace}/api", "scale-api"]


@pytest.mark.parametrize("field", ["runbookRef", "target"])
def test_remediation_identity_is_immutable(paramedic: Kit, field: str) -> None:
    from paramedic.kube import ApiException

    runbook = paramedic.runbook(
        {"requiresApproval": True, "approvers": {"groups": [APPROVER_GROUP]}, "steps": [{"scale": {"replicas": 2}}]}
    )
    paramedic.deploy("api", replicas=1)
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "api"})
    change = {"runbookRef": {"name": "other"}, "target": {"name": "other"}}[field]
    with pytest.raises(ApiException) as caught:
        paramedic.clients.custom.patch_namespaced_custom_object(
            GROUP, VERSION, paramedic.namespace, "remediations", rem, {"spec": {field: change}}
        )
    assert caught.value.status == 422
    assert f"spec.{field} is immutable" in caught.value.body
