"""Fixtures for tests that run paramedic against the real control plane."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paramedic.devcluster.cluster import DevCluster, free_port
from paramedic.devcluster.install import OperatorProcess, apply_crds, ensure_namespace
from paramedic.kube import Clients
from tests import kit

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
def operator(
    cluster: DevCluster, crds: None, clients: Clients, webhook_port: int, moto_server: str, metrics_port: int
) -> Iterator[OperatorProcess]:
    """The operator, as its own process, with the Alertmanager webhook on loopback.
    Tests that kill it leave it running again."""
    clients.core.create_namespaced_secret(
        OPERATOR_NAMESPACE, {"metadata": {"name": "alertmanager-webhook"}, "stringData": {"token": WEBHOOK_TOKEN}}
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


@pytest.fixture
def tenant(paramedic: kit.Kit, cluster: DevCluster, clients: Clients, tenant_roles: None) -> kit.Kit:
    """The test's namespace as its owner sees it: a user bound to the built-in ``edit`` role and
    ``paramedic-edit`` in this namespace only, with a Kit whose clients impersonate that user."""
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(clients.api_client)
    user = f"alice@{paramedic.namespace}"
    for role in ("edit", "paramedic-edit"):
        rbac.create_namespaced_role_binding(
            paramedic.namespace,
            {
                "metadata": {"name": f"tenant-{role}"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
            },
        )
    as_tenant = kit.impersonating(str(cluster.kubeconfig), user, TENANT_GROUP)
    return kit.Kit(as_tenant, paramedic.namespace, paramedic.operator)


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
