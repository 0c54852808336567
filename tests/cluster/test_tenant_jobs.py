"""runJob from a namespaced Runbook, as the namespace's own user: only a safe pod, run as the
namespace's default ServiceAccount without its token. A ClusterRunbook keeps the full JobSpec."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from paramedic.actions.run_job import REMEDIATION_LABEL
from paramedic.api.common import API_VERSION, GROUP, VERSION
from paramedic.cli import main
from paramedic.kube import ApiException
from paramedic_dev.cluster import DevCluster
from tests.cluster.conftest import TENANT_GROUP, kubectl
from tests.kit import Kit
from tests.tenant_jobs import FORBIDDEN, allowed_step, api_path, contains, lint_path, pod, run_job

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment"}


def _runbook(step: dict[str, Any], name: str = "unsafe") -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "Runbook", "metadata": {"name": name}, "spec": {"steps": [step]}}


def _create(kit: Kit, body: dict[str, Any], **options: Any) -> dict[str, Any]:
    created: dict[str, Any] = kit.clients.custom.create_namespaced_custom_object(
        GROUP, VERSION, kit.namespace, "runbooks", body, **options
    )
    return created


@pytest.mark.parametrize(("what", "step", "path"), FORBIDDEN, ids=[c[0] for c in FORBIDDEN])
def test_a_runbook_job_with_a_forbidden_field_is_refused(
    tenant: Kit,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    what: str,
    step: dict[str, Any],
    path: tuple[Any, ...],
) -> None:
    body = _runbook(step)
    with pytest.raises(ApiException) as caught:
        _create(tenant, body, field_validation="Strict")
    message = json.loads(caught.value.body)["message"]
    field = api_path(path)
    assert f'unknown field "{field}"' in message or f"{field}: Unsupported value: true" in message, message
    listed = tenant.clients.custom.list_namespaced_custom_object(GROUP, VERSION, tenant.namespace, "runbooks")
    assert listed["items"] == []

    # `paramedic lint` refuses the very same file offline, naming the same field.
    file = tmp_path / "runbook.yaml"
    file.write_text(yaml.safe_dump(body))
    assert main(["lint", str(file)]) == 1
    assert f"(Runbook/unsafe): {lint_path(path)}:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"resources": {"limits": {"cpu": -1}}}, "containers[0].resources.limits.cpu", "must be at least 0"),
        ({"resources": {"limits": {"memory": "lots"}}}, "containers[0].resources.limits.memory", "should match"),
        ({"args": ["x" * 1025]}, "containers[0].args[0]", "may not be more than 1024 bytes"),
        ({"env": [{"name": "E", "valueFrom": {}}]}, "containers[0].env[0].valueFrom", "exactly one of"),
    ],
)
def test_a_runbook_job_with_an_invalid_value_is_refused(
    tenant: Kit, change: dict[str, Any], field: str, message: str
) -> None:
    spec = pod()
    spec["containers"][0].update(change)
    with pytest.raises(ApiException) as caught:
        _create(tenant, _runbook(run_job(spec)), field_validation="Strict")
    assert caught.value.status == 422
    assert f"spec.steps[0].runJob.template.spec.template.spec.{field}: " in caught.value.body
    assert message in caught.value.body, caught.value.body[:600]


def test_a_volume_mounts_exactly_one_source(tenant: Kit) -> None:
    two = pod(volumes=[{"name": "v", "emptyDir": {}, "secret": {"secretName": "s"}}])
    with pytest.raises(ApiException) as caught:
        _create(tenant, _runbook(run_job(two)), field_validation="Strict")
    assert "spec.steps[0].runJob.template.spec.template.spec.volumes[0]: " in caught.value.body
    assert "a volume sets exactly one of configMap, secret, emptyDir, projected" in caught.value.body


def test_kubectl_refuses_a_forbidden_field_by_default(cluster: DevCluster, tenant: Kit, tmp_path: Path) -> None:
    """kubectl asks for strict field validation unless told otherwise: the namespace user sees the field."""
    file = tmp_path / "runbook.yaml"
    file.write_text(yaml.safe_dump(_runbook(run_job(pod(hostNetwork=True)))))
    user = ("--as", f"alice@{tenant.namespace}", "--as-group", TENANT_GROUP)
    applied = kubectl(cluster, "apply", "-n", tenant.namespace, "-f", str(file), *user)
    assert applied.returncode != 0
    assert 'unknown field "spec.steps[0].runJob.template.spec.template.spec.hostNetwork"' in applied.stderr


def test_without_strict_validation_a_forbidden_field_is_dropped(tenant: Kit) -> None:
    """A client that does not ask for strict validation gets a warning, and the field is not stored."""
    step = run_job(pod(serviceAccountName="paramedic", hostPID=True, nodeName="kwok-node-0"))
    created = _create(tenant, _runbook(step, "pruned"), field_validation="Warn")
    stored = created["spec"]["steps"][0]["runJob"]["template"]["spec"]["template"]["spec"]
    assert stored == pod()


def test_a_runbook_job_runs_as_the_namespace_default_without_a_token(tenant: Kit) -> None:
    tenant.deploy("db", replicas=1)
    runbook = _create(tenant, _runbook(allowed_step(), "maintenance"), field_validation="Strict")
    rem = tenant.remediation(runbook["metadata"]["name"], {**DEPLOYMENT, "name": "db"})
    status = tenant.wait_phase(rem, "Succeeded", timeout=90)

    job = tenant.clients.batch.read_namespaced_job(status["steps"][0]["changes"]["job"], tenant.namespace)
    assert job.metadata.labels[REMEDIATION_LABEL] == rem
    # Every field the Runbook set reached the Job.
    template = allowed_step()["runJob"]["template"]
    plain = tenant.clients.plain(job)
    assert contains(plain["spec"], template["spec"]), plain["spec"]
    assert contains(plain["metadata"], {"labels": template["labels"], "annotations": template["annotations"]})
    assert plain["spec"]["ttlSecondsAfterFinished"] == 3600
    pod_spec = job.spec.template.spec
    assert pod_spec.automount_service_account_token is False
    assert pod_spec.service_account_name == "default"
    assert not any((pod_spec.host_pid, pod_spec.host_network, pod_spec.host_ipc, pod_spec.node_name))
    container = pod_spec.containers[0]
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.capabilities.drop == ["ALL"]
    assert container.resources.limits == {"cpu": "1", "memory": "128Mi"}
    assert {v.name for v in pod_spec.volumes} == {"scratch", "conf", "creds", "both"}
    assert job.spec.backoff_limit == 1
    # The pod the Job controller made is as confined as the template.
    pods = tenant.clients.core.list_namespaced_pod(tenant.namespace, label_selector=f"job-name={job.metadata.name}")
    assert pods.items
    assert all(p.spec.automount_service_account_token is False for p in pods.items)
    assert all(p.spec.service_account_name == "default" for p in pods.items)


def test_a_cluster_runbook_job_keeps_the_full_job_spec(paramedic: Kit) -> None:
    """Administrators write ClusterRunbooks: their Job may name its own ServiceAccount."""
    paramedic.clients.core.create_namespaced_service_account(paramedic.namespace, {"metadata": {"name": "runner"}})
    paramedic.deploy("db", replicas=1)
    name = f"crb-job-{uuid.uuid4().hex[:6]}"
    step = run_job(pod(serviceAccountName="runner", automountServiceAccountToken=True))
    paramedic.cluster_runbook(
        {
            "allowedNamespaces": {"matchLabels": {"kubernetes.io/metadata.name": paramedic.namespace}},
            "steps": [step],
        },
        name=name,
    )
    try:
        rem = paramedic.remediation(name, {**DEPLOYMENT, "name": "db"}, kind="ClusterRunbook")
        status = paramedic.wait_phase(rem, "Succeeded", timeout=90)
        job = paramedic.clients.batch.read_namespaced_job(status["steps"][0]["changes"]["job"], paramedic.namespace)
        assert job.spec.template.spec.service_account_name == "runner"
        assert job.spec.template.spec.automount_service_account_token is True
    finally:
        paramedic.clients.custom.delete_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", name)
