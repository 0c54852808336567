"""Fixtures for tests that run paramedic against the real control plane."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paramedic.api.common import API_VERSION, GROUP, VERSION
from paramedic.api.policies import RateLimitPolicySpec
from paramedic.kube import ApiException, Clients
from paramedic_dev.cluster import DevCluster, free_port
from paramedic_dev.install import OperatorProcess, apply_crds, ensure_namespace
from tests import kit
from tests.waiting import wait_until

OPERATOR_NAMESPACE = "paramedic-system"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
#: The group every impersonated namespace user belongs to, and the one allowed to approve.
TENANT_GROUP = "tenants"
APPROVER_GROUP = "sre-approvers"


def kubectl(cluster: DevCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(cluster.bin["kubectl"]), *args], env=cluster.env(), capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="session")
def clients(api: Any) -> Clients:
    return Clients(api)


@pytest.fixture(scope="session")
def crds(clients: Clients) -> None:
    apply_crds(clients)
    ensure_namespace(clients, OPERATOR_NAMESPACE)


WEBHOOK_TOKEN = "s3cret-" + uuid.uuid4().hex
#: The one allow-list entry of the test operator: loopback, any port.
ALLOWED_ORIGIN = "http://127.0.0.1"


@pytest.fixture(scope="session")
def webhook_port() -> int:
    return free_port()


AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto in server mode on loopback: a real HTTP endpoint the operator's boto3 clients talk to."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def alertmanager_port() -> int:
    """Where the operator's --alertmanager-url points; the ``alertmanager`` fixture listens there."""
    return free_port()


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory: pytest.TempPathFactory, alertmanager_port: int, webhook_port: int) -> Iterator[Any]:
    """The real Alertmanager on loopback, routing every alert to the operator's webhook; its silences are
    the ones the operator holds (runbook spec.silence)."""
    from tests.services import Alertmanager

    server = Alertmanager(
        tmp_path_factory.mktemp("alertmanager"),
        f"http://127.0.0.1:{webhook_port}/alertmanager",
        WEBHOOK_TOKEN,
        port=alertmanager_port,
    )
    server.start_and_wait()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def operator(
    cluster: DevCluster,
    crds: None,
    admission: None,
    clients: Clients,
    webhook_port: int,
    moto_server: str,
    metrics_port: int,
    alertmanager_port: int,
) -> Iterator[OperatorProcess]:
    """The operator, as its own process, with the Alertmanager webhook on loopback.
    Tests that kill it leave it running again."""
    clients.core.create_namespaced_secret(
        OPERATOR_NAMESPACE, {"metadata": {"name": "alertmanager-webhook"}, "stringData": {"token": WEBHOOK_TOKEN}}
    )
    # The suite's default RateLimitPolicy, as an admin configures one: the shipped default (5 in flight in the
    # whole cluster, across policies) would let Remediations that earlier tests leave running, in namespaces
    # still being deleted, refuse a later test's one MaxInFlight. The in-flight rules have tests of their own
    # (test_budgets.py), with policies of their own; the shipped defaults are unit-tested (test_fields.py).
    spec = RateLimitPolicySpec().dump()
    spec["maxInFlight"] = {"max": 100, "scope": "Cluster"}
    clients.custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        OPERATOR_NAMESPACE,
        "ratelimitpolicies",
        {"apiVersion": API_VERSION, "kind": "RateLimitPolicy", "metadata": {"name": "default"}, "spec": spec},
    )
    process = OperatorProcess(
        cluster.kubeconfig,
        cluster.workdir / "logs" / "operator.log",
        OPERATOR_NAMESPACE,
        "--webhook-host",
        "127.0.0.1",
        "--webhook-port",
        str(webhook_port),
        "--webhook-token-secret",
        f"{OPERATOR_NAMESPACE}/alertmanager-webhook",
        "--aws-endpoint-url",
        moto_server,
        "--metrics-port",
        str(metrics_port),
        "--alertmanager-url",
        f"http://127.0.0.1:{alertmanager_port}",
        # The tests' receivers, Prometheus and Alertmanager listen on loopback: the admin's allow-list names
        # that host explicitly (the rule stays: other URLs in namespaced objects are refused).
        "--allowed-url-prefix",
        ALLOWED_ORIGIN,
        env=AWS_ENV,
    )
    process.start_and_wait()
    yield process
    process.stop()


@pytest.fixture
def paramedic(clients: Clients, operator: OperatorProcess, namespace: str) -> kit.Kit:
    """Helpers to create runbooks and remediations in the test's namespace, with the operator running."""
    if not operator.running:
        operator.start_and_wait()
    return kit.Kit(clients, namespace, operator)


@pytest.fixture(scope="session")
def tenant_roles(cluster: DevCluster, crds: None) -> None:
    """The roles deploy/ gives namespace users (no */status)."""
    applied = kubectl(cluster, "apply", "-f", str(DEPLOY / "base" / "tenant-rbac.yaml"))
    assert applied.returncode == 0, applied.stderr


@pytest.fixture(scope="session")
def admission(cluster: DevCluster, clients: Clients, crds: None, tenant_roles: None) -> None:
    """deploy/base/admission.yaml, enforced: waits until the API server denies with it (policies load
    asynchronously), probing as a namespace user with a server-side dry run."""
    applied = kubectl(cluster, "apply", "-f", str(DEPLOY / "base" / "admission.yaml"))
    assert applied.returncode == 0, applied.stderr
    probe = "paramedic-admission-probe"
    ensure_namespace(clients, probe)
    _bind(clients, probe, "probe", "paramedic-edit")
    as_probe = kit.impersonating(str(cluster.kubeconfig), "probe", TENANT_GROUP)
    body = {
        "apiVersion": "paramedic.dev/v1alpha1",
        "kind": "Remediation",
        "metadata": {"name": "probe"},
        "spec": {"runbookRef": {"name": "x"}, "target": {"kind": "Pod", "name": "x"}, "requestedBy": "probe"},
    }

    def enforced() -> bool:
        try:
            as_probe.custom.create_namespaced_custom_object(
                "paramedic.dev",
                "v1alpha1",
                probe,
                "remediations",
                {**body, "spec": {**body["spec"], "approved": True, "approvedBy": "probe"}},
                dry_run="All",
            )
        except ApiException as exc:
            return exc.status == 403 and "paramedic-remediations" in (exc.body or "")
        return False

    wait_until(enforced, 30, "the admission policy paramedic-remediations to be enforced", every=0.5)


def _granted(clients: Clients, namespace: str, user: str, group: str, resource: str) -> None:
    """Wait until the API server's authorizer has seen the bindings just made (its RBAC cache follows a watch,
    so under load the first request as the user can still be forbidden)."""
    from kubernetes import client

    review = {
        "spec": {
            "user": user,
            "groups": [group, "system:authenticated"],
            "resourceAttributes": {
                "namespace": namespace,
                "verb": "create",
                "group": "paramedic.dev",
                "resource": resource,
            },
        }
    }
    api = client.AuthorizationV1Api(clients.api_client)
    wait_until(
        lambda: api.create_subject_access_review(review).status.allowed, 30, f"{user} to be bound in {namespace}"
    )


def _bind(clients: Clients, namespace: str, user: str, role: str) -> None:
    from kubernetes import client

    try:
        client.RbacAuthorizationV1Api(clients.api_client).create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": f"{user.split('@')[0]}-{role}"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
            },
        )
    except ApiException as exc:
        if exc.status != 409:
            raise


@pytest.fixture
def tenant(paramedic: kit.Kit, cluster: DevCluster, clients: Clients, tenant_roles: None) -> kit.Kit:
    """The test's namespace as its owner sees it: a user bound to the built-in ``edit`` role and
    ``paramedic-edit`` in this namespace only, with a Kit whose clients impersonate that user
    (and whose Remediations name that user in spec.requestedBy, as the admission policy requires)."""
    user = f"alice@{paramedic.namespace}"
    for role in ("edit", "paramedic-edit"):
        _bind(clients, paramedic.namespace, user, role)
    _granted(clients, paramedic.namespace, user, TENANT_GROUP, "runbooks")
    as_tenant = kit.impersonating(str(cluster.kubeconfig), user, TENANT_GROUP)
    return kit.Kit(as_tenant, paramedic.namespace, paramedic.operator, user=user)


@pytest.fixture
def victim(clients: Clients) -> Iterator[str]:
    """Another team's namespace, where a tenant of the test's namespace has no rights (a test module adds
    the workloads its tests aim at by overriding this fixture)."""
    name = f"victim-{uuid.uuid4().hex[:6]}"
    clients.core.create_namespace({"metadata": {"name": name}})
    yield name
    clients.core.delete_namespace(name)


@pytest.fixture
def approver(paramedic: kit.Kit, cluster: DevCluster, clients: Clients, tenant_roles: None) -> kit.Kit:
    """Another person with ``paramedic-edit`` in the test's namespace, in the group APPROVER_GROUP."""
    user = f"bob@{paramedic.namespace}"
    _bind(clients, paramedic.namespace, user, "paramedic-edit")
    _granted(clients, paramedic.namespace, user, APPROVER_GROUP, "remediations")
    as_approver = kit.impersonating(str(cluster.kubeconfig), user, APPROVER_GROUP)
    return kit.Kit(as_approver, paramedic.namespace, paramedic.operator, user=user)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """When a test fails, keep the operator's log next to the run (the cluster's folder is deleted)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    process = item.funcargs.get("paramedic") if hasattr(item, "funcargs") else None
    if report.failed and process is not None:
        artifacts = Path(item.config.rootpath) / ".pytest-artifacts"
        artifacts.mkdir(exist_ok=True)
        shutil.copy(process.operator.log, artifacts / f"operator-{item.name}.log")
