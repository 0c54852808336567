"""Approvals tied to people and the fields only the operator writes, acting as namespace users
(impersonated through the real API server) against deploy/base/admission.yaml and the CRDs' CEL rules."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from paramedic.api.common import GROUP, VERSION
from paramedic.engine.engine import Engine
from paramedic.kube import ApiException, Clients
from paramedic.policy.admission import AdmissionGuard
from paramedic_dev import simulate
from paramedic_dev.cluster import DevCluster
from tests.cluster.conftest import APPROVER_GROUP, TENANT_GROUP, _bind
from tests.cluster.test_deploy import SA, kubectl, rbac  # noqa: F401 (the rbac fixture)
from tests.cluster.test_escalation import Receiver, secret
from tests.cluster.test_triggers import one_remediation, pods
from tests.kit import Kit, impersonating
from tests.waiting import wait_until

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment"}
GATED = {"requiresApproval": True, "approvers": {"groups": [APPROVER_GROUP]}}
RECORDED = {"groups": [APPROVER_GROUP], "users": []}


def refused(call: Any, *args: Any, status: int = 403, **kwargs: Any) -> str:
    """The API server's message for a refused call (the call must be refused with ``status``)."""
    with pytest.raises(ApiException) as caught:
        call(*args, **kwargs)
    assert caught.value.status == status, caught.value.body
    return str(caught.value.body)


def exists(kit: Kit, name: str) -> bool:
    try:
        kit.get(name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


@pytest.fixture
def carol(paramedic: Kit, cluster: DevCluster, clients: Clients, tenant_roles: None) -> Kit:
    """A colleague of the tenant's with the same rights, who is no approver."""
    user = f"carol@{paramedic.namespace}"
    _bind(clients, paramedic.namespace, user, "paramedic-edit")
    as_carol = impersonating(str(cluster.kubeconfig), user, TENANT_GROUP)
    return Kit(as_carol, paramedic.namespace, paramedic.operator, user)


# -- the policy itself -----------------------------------------------------------------------


def test_policy_type_checks_against_the_remediation_schema(clients: Clients, admission: None) -> None:
    def checked() -> dict[str, Any] | None:
        policy = clients.plain(clients.admission.read_validating_admission_policy("paramedic-remediations"))
        status = policy.get("status") or {}
        return status if status.get("observedGeneration") == policy["metadata"]["generation"] else None

    status = wait_until(checked, 30, "the API server to type-check the policy")
    assert not (status.get("typeChecking") or {}).get("expressionWarnings"), status


def test_helm_chart_ships_the_same_policy_for_its_service_account(cluster: DevCluster) -> None:
    rendered = subprocess.run(
        [str(cluster.bin["helm"]), "template", "rel", str(DEPLOY / "helm" / "paramedic"), "-n", "ops"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    chart = [d for d in yaml.safe_load_all(rendered) if d and d["kind"].startswith("ValidatingAdmissionPolicy")]
    text = (DEPLOY / "base" / "admission.yaml").read_text()
    # The release's ServiceAccount is named after it (rel-paramedic).
    base = list(yaml.safe_load_all(text.replace(SA, "system:serviceaccount:ops:rel-paramedic")))
    assert [(d["kind"], d["metadata"]["name"], d["spec"]) for d in chart] == [
        (d["kind"], d["metadata"]["name"], d["spec"]) for d in base
    ]


def test_operator_may_read_the_policy_and_nothing_else_there(cluster: DevCluster, rbac: None) -> None:  # noqa: F811
    def can(verb: str, what: str) -> str:
        kind, name = what.split("/")
        resource = f"validatingadmission{kind}.admissionregistration.k8s.io/{name}"
        return kubectl(cluster, "auth", "can-i", verb, resource, "--as", SA).stdout.strip()

    assert can("get", "policybindings/paramedic-remediations") == "yes"
    assert can("get", "policies/paramedic-remediations") == "yes"
    assert can("get", "policies/other") == "no"
    assert can("delete", "policybindings/paramedic-remediations") == "no"
    assert can("update", "policies/paramedic-remediations") == "no"


def test_guard_sees_whether_the_policy_is_installed(
    clients: Clients, admission: None, caplog: pytest.LogCaptureFixture
) -> None:
    assert AdmissionGuard(clients).installed()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert not AdmissionGuard(clients, name="paramedic-not-installed").installed()
    [error] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "paramedic-not-installed (deploy/base/admission.yaml) are not installed" in error
    assert "no approval or resolution is honoured" in error


# -- creating --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"approved": True, "approvedBy": "bob"}, "spec.approved: a Remediation cannot be created approved"),
        ({"resolved": True, "resolvedBy": "bob"}, "spec.resolved: a Remediation cannot be created resolved"),
        ({"approvedBy": "bob"}, "spec.approved: a Remediation cannot be created approved"),
        ({"trigger": {"kind": "podCrashLoop"}}, "spec.trigger is set only by the paramedic operator"),
        ({"requestedBy": "bob"}, "spec.requestedBy must be your own username, alice@"),
        ({"requestedBy": None}, "spec.requestedBy must be your own username, alice@"),
    ],
    ids=["approved", "resolved", "approvedBy", "trigger", "requestedBy-someone-else", "requestedBy-missing"],
)
def test_tenant_cannot_create_what_only_others_may_set(tenant: Kit, spec: dict[str, Any], message: str) -> None:
    runbook = tenant.runbook({**GATED, "steps": [{"scale": {"replicas": 2}}]})
    name = "forged"
    # requestedBy None is sent as null, which the API server prunes: the field is missing.
    body = {"requestedBy": tenant.user, **spec}
    error = refused(tenant.remediation, runbook, {**DEPLOYMENT, "name": "api"}, name=name, **body)
    assert message in error
    assert not exists(tenant, name)


@pytest.mark.parametrize("label", ["paramedic.dev/runbook", "paramedic.dev/trigger", "paramedic.dev/anything"])
def test_tenant_cannot_create_with_operator_labels(tenant: Kit, label: str) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Remediation",
        "metadata": {"name": "labelled", "labels": {label: "x", "team": "shop"}},
        "spec": {"runbookRef": {"name": "x"}, "target": {"kind": "Pod", "name": "p"}, "requestedBy": tenant.user},
    }
    create = tenant.clients.custom.create_namespaced_custom_object
    error = refused(create, GROUP, VERSION, tenant.namespace, "remediations", body)
    assert "metadata.labels: labels with the paramedic.dev/ prefix are set only by the paramedic operator" in error
    del body["metadata"]["labels"][label]  # type: ignore[attr-defined]
    create(GROUP, VERSION, tenant.namespace, "remediations", body)  # other labels are the tenant's own


# -- after creation --------------------------------------------------------------------------


def test_dry_run_and_trigger_cannot_change_after_creation(tenant: Kit, paramedic: Kit) -> None:
    paramedic.deploy("api", replicas=1)
    runbook = tenant.runbook({**GATED, "steps": [{"scale": {"replicas": 3}}]})
    rem = tenant.remediation(runbook, {**DEPLOYMENT, "name": "api"}, dryRun=True)
    error = refused(tenant.patch, rem, {"dryRun": False}, status=422)
    assert "spec.dryRun: Invalid value" in error
    assert "spec.dryRun is immutable" in error
    error = refused(tenant.patch, rem, {"trigger": {"kind": "podCrashLoop"}}, status=422)
    assert "spec.trigger is immutable" in error
    error = refused(tenant.patch, rem, {"requestedBy": "carol"}, status=422)
    assert "spec.requestedBy is immutable" in error
    assert paramedic.wait_phase(rem, "DryRun")["phase"] == "DryRun"
    assert tenant.get(rem)["spec"]["dryRun"] is True
    assert paramedic.deployment("api")["spec"]["replicas"] == 1


def test_tenant_cannot_write_remediation_status(tenant: Kit, paramedic: Kit) -> None:
    runbook = tenant.runbook({**GATED, "steps": [{"scale": {"replicas": 3}}]})
    paramedic.deploy("api", replicas=1)
    rem = tenant.remediation(runbook, {**DEPLOYMENT, "name": "api"})
    paramedic.wait_phase(rem, "AwaitingApproval")
    forged = {"status": {"approval": {"requestedBy": "x", "approvers": {"users": [tenant.user]}}}}
    patch = tenant.clients.custom.patch_namespaced_custom_object_status
    refused(patch, GROUP, VERSION, tenant.namespace, "remediations", rem, forged)
    assert tenant.status(rem)["approval"] == {"requestedBy": tenant.user, "approvers": RECORDED}


def test_a_manual_remediation_is_approved_by_an_approver_only(
    tenant: Kit, approver: Kit, carol: Kit, paramedic: Kit
) -> None:
    paramedic.deploy("api", replicas=1)
    runbook = tenant.runbook({**GATED, "steps": [{"scale": {"replicas": 2}}]})
    rem = tenant.remediation(runbook, {**DEPLOYMENT, "name": "api"})
    status = paramedic.wait_phase(rem, "AwaitingApproval")
    assert status["approval"] == {"requestedBy": tenant.user, "approvers": RECORDED}

    error = refused(tenant.approve, rem)
    assert f"spec.approved: {tenant.user} requested this Remediation and cannot approve it" in error
    error = refused(carol.approve, rem)
    assert f"spec.approved: {carol.user} may not approve this Remediation" in error
    assert f"groups [{APPROVER_GROUP}]" in error
    error = refused(approver.approve, rem, by=carol.user)
    assert f"spec.approvedBy must be your own username, {approver.user}" in error
    error = refused(tenant.resolve, rem)
    assert f"spec.resolved: {tenant.user} requested this Remediation and cannot resolve it" in error
    assert tenant.get(rem)["spec"]["approved"] is False
    assert paramedic.deployment("api")["spec"]["replicas"] == 1

    approver.approve(rem)
    status = paramedic.wait_phase(rem, "Succeeded")
    assert paramedic.deployment("api")["spec"]["replicas"] == 2
    assert status["approval"]["approvedBy"] == approver.user
    assert status["approval"]["requestedBy"] == tenant.user
    approved = next(c for c in status["conditions"] if c["type"] == "Approved")
    assert approved["message"] == f"approved by {approver.user} (requested by {tenant.user})"
    events = paramedic.events("Remediation", rem)
    assert any(e.startswith("AwaitingApproval: requested by " + tenant.user) for e in events), events
    assert f"Approved: approved by {approver.user} (requested by {tenant.user}); running the steps" in events


def test_a_trigger_created_remediation_of_a_cluster_runbook_is_not_the_tenants(
    tenant: Kit, approver: Kit, paramedic: Kit
) -> None:
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.cluster_runbook(
        {
            **GATED,
            "trigger": {"podCrashLoop": {"minRestarts": 1}},
            "allowedNamespaces": {"matchLabels": {"kubernetes.io/metadata.name": paramedic.namespace}},
            "target": {"kinds": ["Pod"]},
            "steps": [{"deletePod": {}}],
        }
    )
    try:
        pod = pods(paramedic, "api")[0].metadata.name
        simulate.make_crashloop(paramedic.clients.core, paramedic.namespace, pod, restarts=2)
        rem = one_remediation(paramedic, runbook)["metadata"]["name"]
        status = paramedic.wait_phase(rem, "AwaitingApproval")
        assert status["approval"]["requestedBy"] == paramedic.clients.whoami()  # the operator's identity
        before = tenant.get(rem)

        assert f"spec.approved: {tenant.user} may not approve" in refused(tenant.approve, rem)
        assert f"spec.resolved: {tenant.user} may not resolve" in refused(tenant.resolve, rem)
        relabel = {"labels": {"paramedic.dev/runbook": "other"}}
        assert "metadata.labels: labels with the paramedic.dev/ prefix" in refused(tenant.patch, rem, {}, relabel)
        unlabel = {"labels": {"paramedic.dev/trigger": None}}
        assert "metadata.labels: labels with the paramedic.dev/ prefix" in refused(tenant.patch, rem, {}, unlabel)
        assert "spec.trigger is immutable" in refused(tenant.patch, rem, {"trigger": None}, status=422)
        after = tenant.get(rem)
        assert (after["spec"], after["metadata"]["labels"]) == (before["spec"], before["metadata"]["labels"])

        approver.approve(rem)
        status = paramedic.wait_phase(rem, "Succeeded")
        assert status["approval"]["approvedBy"] == approver.user
        wait_until(lambda: pod not in [p.metadata.name for p in pods(paramedic, "api")], 30, "the pod's deletion")
    finally:
        paramedic.clients.custom.delete_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", runbook)


def test_only_an_approver_resolves_an_escalation(tenant: Kit, approver: Kit, paramedic: Kit) -> None:
    receiver = Receiver()
    try:
        secret(paramedic, "hook", receiver.url + "/hook")
        channel = {"name": "oncall", "webhook": {"name": "hook", "key": "value"}}
        policy = {"levels": [{"name": "primary", "channels": [channel]}], "repeatInterval": "1h"}
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "EscalationPolicy", "metadata": {"name": "oncall"}}
        tenant.clients.custom.create_namespaced_custom_object(
            GROUP, VERSION, tenant.namespace, "escalationpolicies", {**body, "spec": policy}
        )
        paramedic.deploy("api", replicas=1)
        # No earlier revision to roll back to: the step fails and humans are called.
        approvers = {"groups": [APPROVER_GROUP]}
        runbook = tenant.runbook(
            {"approvers": approvers, "escalationPolicyRef": {"name": "oncall"}, "steps": [{"rollback": {}}]}
        )
        rem = tenant.remediation(runbook, {**DEPLOYMENT, "name": "api"})
        paramedic.wait_phase(rem, "Failed")
        wait_until(lambda: receiver.received, 30, "the page")

        error = refused(tenant.resolve, rem)
        assert f"spec.resolved: {tenant.user} requested this Remediation and cannot resolve it" in error
        assert paramedic.status(rem)["escalation"]["state"] == "Active"

        approver.resolve(rem)
        wait_until(lambda: paramedic.status(rem)["escalation"]["state"] == "Resolved", 30, "the resolution")
        status = paramedic.status(rem)
        assert status["approval"]["resolvedBy"] == approver.user
        assert receiver.received[-1][2]["status"] == "resolved"
        message = f"Resolved: resolved by {approver.user} (requested by {tenant.user})"
        wait_until(lambda: message in paramedic.events("Remediation", rem), 30, "the Resolved event")
    finally:
        receiver.close()


def test_cluster_admin_is_not_checked_but_still_named(paramedic: Kit) -> None:
    """The kit acts as a cluster admin (system:masters): it may create Remediations with what the operator
    sets, and the engine still records who approved."""
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook({**GATED, "steps": [{"scale": {"replicas": 2}}]})
    me = paramedic.clients.whoami()
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "api"}, approved=True, approvedBy=me)
    status = paramedic.wait_phase(rem, "Succeeded")
    assert status["approval"]["approvedBy"] == me


# -- the operator's own check ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "spec", "field", "message"),
    [
        ("Runbook", {"requiresApproval": True}, "spec.approvers", "approvers must name who may approve"),
        ("Runbook", {"approvers": {}}, "spec.approvers", "approvers name at least one user or group"),
        ("Remediation", {"approved": True}, "spec.approvedBy", "spec.approvedBy must name who approves"),
        ("Remediation", {"resolved": True}, "spec.resolvedBy", "spec.resolvedBy must name who resolves"),
    ],
)
def test_schema_names_the_missing_person(
    clients: Clients, crds: None, namespace: str, kind: str, spec: dict[str, Any], field: str, message: str
) -> None:
    """Even a cluster admin, whom the admission policy does not check, cannot leave them out."""
    base = {"steps": [{"rolloutRestart": {}}]} if kind == "Runbook" else {"runbookRef": {"name": "x"}}
    target = {} if kind == "Runbook" else {"target": {"kind": "Pod", "name": "p"}}
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": "x"}}
    create = clients.custom.create_namespaced_custom_object
    error = refused(
        create, GROUP, VERSION, namespace, kind.lower() + "s", {**body, "spec": {**base, **target, **spec}}, status=422
    )
    assert f"{field}: Invalid value" in error
    assert message in error


@pytest.fixture
def operator_stopped(paramedic: Kit) -> Iterator[Engine]:
    """The operator's engine in this process, with the operator stopped, to drive one Remediation by hand."""
    paramedic.operator.stop()
    try:
        yield Engine(paramedic.clients, "paramedic-system")
    finally:
        paramedic.operator.start_and_wait()


def drive(engine: Engine, kit: Kit, name: str, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    def step() -> dict[str, Any] | None:
        engine.reconcile(kit.get(name))
        status = kit.status(name)
        return status if until(status) else None

    return wait_until(step, 30, f"{name} to get there")


def approved_condition(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status.get("conditions", []) if c["type"] == "Approved")


def test_without_the_admission_policy_no_approval_is_honoured(paramedic: Kit, operator_stopped: Engine) -> None:
    """spec.approvedBy could be anyone's word: the engine waits, and says why, until the policy is there."""
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook({**GATED, "steps": [{"scale": {"replicas": 2}}]})
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "api"}, requestedBy="alice")
    engine = operator_stopped
    engine.guard = AdmissionGuard(paramedic.clients, name="paramedic-not-installed")
    drive(engine, paramedic, rem, lambda s: s.get("phase") == "AwaitingApproval")
    paramedic.approve(rem, by="bob")

    status = drive(engine, paramedic, rem, lambda s: approved_condition(s)["reason"] == "AdmissionPolicyMissing")
    assert status["phase"] == "AwaitingApproval"
    assert "the ValidatingAdmissionPolicyBinding paramedic-remediations is not installed" in status["message"]
    events = paramedic.events("Remediation", rem)
    assert any(e.startswith("AdmissionPolicyMissing: approval not honoured") for e in events), events
    assert paramedic.deployment("api")["spec"]["replicas"] == 1

    engine.guard = AdmissionGuard(paramedic.clients)
    status = drive(engine, paramedic, rem, lambda s: s.get("phase") == "Succeeded")
    assert status["approval"]["approvedBy"] == "bob"
    assert paramedic.deployment("api")["spec"]["replicas"] == 2


def test_engine_refuses_an_approver_it_can_tell_is_not_listed(paramedic: Kit, operator_stopped: Engine) -> None:
    """A cluster admin is not checked by the policy; with a list of users the engine still checks the name,
    and the requester's own name."""
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook(
        {"requiresApproval": True, "approvers": {"users": ["bob", "alice"]}, "steps": [{"scale": {"replicas": 2}}]}
    )
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "api"}, requestedBy="alice")
    engine = operator_stopped
    drive(engine, paramedic, rem, lambda s: s.get("phase") == "AwaitingApproval")

    paramedic.approve(rem, by="mallory")
    status = drive(engine, paramedic, rem, lambda s: approved_condition(s)["reason"] == "NotAnApprover")
    message = "spec.approvedBy mallory is not among the approvers in status.approval (users bob, alice)"
    assert message in status["message"]
    paramedic.approve(rem, by="alice")
    status = drive(engine, paramedic, rem, lambda s: approved_condition(s)["reason"] == "SelfApproval")
    assert status["phase"] == "AwaitingApproval"
    assert paramedic.deployment("api")["spec"]["replicas"] == 1
    events = paramedic.events("Remediation", rem)
    assert any(e.startswith("NotAnApprover: approval not honoured") for e in events), events

    paramedic.approve(rem, by="bob")
    drive(engine, paramedic, rem, lambda s: s.get("phase") == "Succeeded")
    assert paramedic.deployment("api")["spec"]["replicas"] == 2


def test_tenant_cannot_forge_or_change_operator_annotations(tenant: Kit) -> None:
    """The occurrence key decides what a trigger counts as a repeat: a forged one could hide a real failure."""
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Remediation",
        "metadata": {"name": "annotated", "annotations": {"paramedic.dev/occurrence": "x", "team": "shop"}},
        "spec": {"runbookRef": {"name": "x"}, "target": {"kind": "Pod", "name": "p"}, "requestedBy": tenant.user},
    }
    create = tenant.clients.custom.create_namespaced_custom_object
    error = refused(create, GROUP, VERSION, tenant.namespace, "remediations", body)
    assert "metadata.annotations: annotations with the paramedic.dev/ prefix are set only by the paramedic" in error
    del body["metadata"]["annotations"]["paramedic.dev/occurrence"]  # type: ignore[attr-defined]
    create(GROUP, VERSION, tenant.namespace, "remediations", body)  # other annotations are the tenant's own
    forged = {"metadata": {"annotations": {"paramedic.dev/occurrence": "y"}}}
    patch = tenant.clients.custom.patch_namespaced_custom_object
    error = refused(patch, GROUP, VERSION, tenant.namespace, "remediations", "annotated", forged)
    assert "metadata.annotations: annotations with the paramedic.dev/ prefix" in error
