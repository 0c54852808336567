"""The seed runbooks in examples/ are accepted by the API server and work end to end."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paramedic.api.common import API_VERSION, GROUP, VERSION
from paramedic.devcluster.cluster import DevCluster
from paramedic.devcluster.install import OperatorProcess
from tests.waiting import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Everything but the one-off Remediations (the tests start their own).
APPLIED = [
    p
    for folder in ("paintbox", "candlefish", "cluster")
    for p in sorted((EXAMPLES / folder).glob("*.yaml"))
    if not p.name.startswith("remediation-")
]
APPLIED.sort(key=lambda p: "Namespace" not in p.read_text())  # namespaces first


def kubectl(cluster: DevCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(cluster.bin["kubectl"]), *args], env=cluster.env(), capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def seeds(cluster: DevCluster, crds: None) -> Iterator[None]:
    for path in APPLIED:
        result = kubectl(cluster, "apply", "-f", str(path))
        assert result.returncode == 0, result.stderr
    yield
    for path in reversed(APPLIED):
        kubectl(cluster, "delete", "--wait=false", "--ignore-not-found", "-f", str(path))


def run(clients: Any, namespace: str, runbook: str, target: dict[str, Any], name: str) -> str:
    body = {
        "apiVersion": API_VERSION,
        "kind": "Remediation",
        "metadata": {"name": name},
        "spec": {"runbookRef": {"name": runbook}, "target": target, "reason": f"seed example {runbook}"},
    }
    clients.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "remediations", body)
    return name


def phase(clients: Any, namespace: str, name: str, *wanted: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        status = (
            clients.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "remediations", name).get("status")
            or {}
        )
        return status if status.get("phase") in wanted else None

    return wait_until(reached, 120, f"{namespace}/{name} to reach {wanted}")


def test_every_example_is_served(seeds: None, clients: Any) -> None:
    kinds = {"runbooks": "paintbox", "ratelimitpolicies": "paintbox", "escalationpolicies": "paintbox"}
    for plural, namespace in kinds.items():
        assert clients.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]
    names = {
        r["metadata"]["name"]
        for r in clients.custom.list_cluster_custom_object(GROUP, VERSION, "clusterrunbooks")["items"]
    }
    assert {"drain-node", "node-pressure"} <= names


def test_p0_restarts_router_and_frontend(seeds: None, clients: Any, operator: OperatorProcess) -> None:
    wait_until(
        lambda: (
            len([p for p in clients.core.list_namespaced_pod("paintbox").items if p.status.phase == "Running"]) >= 5
        ),
        60,
        "paintbox pods",
    )
    generations = {
        d: clients.apps.read_namespaced_deployment(d, "paintbox").metadata.generation
        for d in ("apollo-router", "frontend")
    }
    name = run(
        clients,
        "paintbox",
        "p0-production-down",
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "apollo-router"},
        "p0-drill",
    )
    status = phase(clients, "paintbox", name, "Succeeded", "Failed")
    assert status["phase"] == "Succeeded", status["message"]
    assert [s["target"]["name"] for s in status["steps"]] == ["apollo-router", "frontend"]
    for deployment, before in generations.items():
        assert clients.apps.read_namespaced_deployment(deployment, "paintbox").metadata.generation == before + 1


def test_candlefish_jobs(seeds: None, clients: Any, operator: OperatorProcess) -> None:
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "collab-api"}
    cache = run(clients, "candlefish", "invalidate-session-cache", target, "cache-drill")
    assert phase(clients, "candlefish", cache, "Succeeded", "Failed")["phase"] == "Succeeded"

    queries = run(clients, "candlefish", "terminate-long-queries", target, "queries-drill")
    phase(clients, "candlefish", queries, "AwaitingApproval")
    clients.custom.patch_namespaced_custom_object(
        GROUP, VERSION, "candlefish", "remediations", queries, {"spec": {"approved": True}}
    )
    status = phase(clients, "candlefish", queries, "Succeeded", "Failed")
    assert status["phase"] == "Succeeded", status["message"]
    job = clients.batch.read_namespaced_job(status["steps"][0]["changes"]["job"], "candlefish")
    assert "pg_terminate_backend" in job.spec.template.spec.containers[0].args[0]
