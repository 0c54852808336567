"""The install manifests: accepted by the API server, and the RBAC they grant
is enough for the operator (run under that ServiceAccount) and no more."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from paramedic_dev import simulate
from paramedic_dev.cluster import DevCluster
from paramedic_dev.install import OperatorProcess
from tests.cluster.conftest import AWS_ENV, OPERATOR_NAMESPACE
from tests.cluster.test_triggers import one_remediation, pods
from tests.kit import Kit

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "base"
SA = f"system:serviceaccount:{OPERATOR_NAMESPACE}:paramedic"


def kubectl(cluster: DevCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(cluster.bin["kubectl"]), *args], env=cluster.env(), capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def rbac(cluster: DevCluster, crds: None) -> None:
    applied = kubectl(cluster, "apply", "-n", OPERATOR_NAMESPACE, "-f", str(DEPLOY / "rbac.yaml"))
    assert applied.returncode == 0, applied.stderr


def test_kustomize_base_passes_server_side_dry_run(cluster: DevCluster, crds: None) -> None:
    result = kubectl(cluster, "apply", "--dry-run=server", "-k", str(DEPLOY))
    assert result.returncode == 0, result.stderr
    for kind in (
        "namespace/paramedic-system",
        "deployment.apps/paramedic",
        "poddisruptionbudget.policy/paramedic",
        "networkpolicy.networking.k8s.io/paramedic",
        "clusterrole.rbac.authorization.k8s.io/paramedic",
        "validatingadmissionpolicy.admissionregistration.k8s.io/paramedic-remediations",
        "validatingadmissionpolicybinding.admissionregistration.k8s.io/paramedic-remediations",
    ):
        assert kind in result.stdout
    assert "(server dry run)" in result.stdout


@pytest.mark.parametrize(
    ("verb", "resource", "namespace", "allowed"),
    [
        ("create", "pods/eviction", "default", True),
        ("patch", "nodes", "", True),
        ("patch", "deployments.apps", "default", True),
        ("create", "jobs.batch", "default", True),
        ("patch", "remediations.paramedic.dev/status", "default", True),
        ("patch", "escalationpolicies.paramedic.dev/status", "default", True),  # Ready=False Invalid
        ("update", "leases.coordination.k8s.io", OPERATOR_NAMESPACE, True),
        ("get", "secrets", OPERATOR_NAMESPACE, True),
        ("get", "secrets", "default", False),
        ("create", "secrets", OPERATOR_NAMESPACE, True),
        ("create", "secrets", "default", False),
        ("list", "secrets", OPERATOR_NAMESPACE, False),
        ("delete", "deployments.apps", "default", False),
        ("delete", "nodes", "", False),
        ("update", "leases.coordination.k8s.io", "default", False),
        ("create", "pods", "default", False),
        # evidence (docs/evidence.md): reads, and the ConfigMap each Remediation owns
        ("get", "pods/log", "default", True),
        ("list", "events", "default", True),
        ("get", "services", "default", True),
        ("list", "endpointslices.discovery.k8s.io", "default", True),
        ("create", "configmaps", "default", True),
        ("delete", "configmaps", "default", False),
        ("delete", "services", "default", False),
        # applyManifest (docs/concepts.md): server-side apply of the kinds a Runbook may apply, never a delete
        ("patch", "services", "default", True),
        ("patch", "ingresses.networking.k8s.io", "default", True),
        ("delete", "ingresses.networking.k8s.io", "default", False),
        ("create", "roles.rbac.authorization.k8s.io", "default", False),
        # isolate / release: only NetworkPolicies
        ("create", "networkpolicies.networking.k8s.io", "default", True),
        ("patch", "networkpolicies.networking.k8s.io", "default", False),
    ],
)
def test_rbac_grants_exactly_what_the_actions_need(
    cluster: DevCluster, rbac: None, verb: str, resource: str, namespace: str, allowed: bool
) -> None:
    scope = ["-n", namespace] if namespace else []
    resource, _, sub = resource.partition("/")
    subresource = [f"--subresource={sub}"] if sub else []
    result = kubectl(cluster, "auth", "can-i", verb, resource, *subresource, "--as", SA, *scope)
    assert result.stdout.strip() == ("yes" if allowed else "no"), result.stderr


@pytest.fixture
def restricted_operator(paramedic: Kit, cluster: DevCluster, rbac: None) -> Iterator[OperatorProcess]:
    """The operator under its ServiceAccount's token instead of cluster-admin."""
    token = paramedic.clients.core.create_namespaced_service_account_token(
        "paramedic", OPERATOR_NAMESPACE, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [{"name": "admin", "user": {"token": token}}]
    kubeconfig = cluster.workdir / "paramedic-sa.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    paramedic.operator.stop()
    process = OperatorProcess(
        kubeconfig,
        cluster.workdir / "logs" / "operator-sa.log",
        OPERATOR_NAMESPACE,
        "--leader-elect",
        "--lease-duration",
        "4",
        env={**AWS_ENV, "POD_NAME": "sa-replica"},
    )
    process.start_and_wait()
    try:
        yield process
    finally:
        process.stop()
        paramedic.operator.start_and_wait()


def test_operator_works_with_only_its_rbac(paramedic: Kit, restricted_operator: OperatorProcess) -> None:
    ns = paramedic.namespace
    paramedic.deploy("api", replicas=2)
    runbook = paramedic.runbook(
        {
            "evidence": [
                {"name": "podEvents", "events": {}},
                {"name": "state", "summary": {}},
                {"name": "logs", "logs": {}},
            ],
            "steps": [
                {"scale": {"by": 1}, "collect": ["state"]},
                {"rolloutRestart": {}},
                {"raiseMemoryLimit": {"cap": "1Gi"}},
                {
                    "runJob": {
                        "template": {
                            "spec": {
                                "template": {
                                    "spec": {"containers": [{"name": "sql", "image": "registry.invalid/psql:16"}]}
                                }
                            }
                        }
                    }
                },
            ],
        }
    )
    # raiseMemoryLimit needs a limit to raise: the Deployment has none, so that step fails; the rest must pass.
    rem = paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"})
    status = paramedic.wait_phase(rem, "Failed", timeout=90)
    assert [s["phase"] for s in status["steps"]] == ["Succeeded", "Succeeded", "Failed"]
    assert status["steps"][2]["reason"] == "AtCap"
    evidence = {(r["name"], r.get("after")): r for r in status["evidence"]}
    assert {key: r["outcome"] for key, r in evidence.items() if r["kind"] != "logs"} == {
        ("podEvents", None): "Collected",
        ("state", None): "Collected",
        ("state", 0): "Collected",
    }
    assert "403" not in evidence["logs", None]["error"]  # KWOK serves no logs; the request itself is allowed
    owned = paramedic.clients.core.read_namespaced_config_map(f"{rem}-evidence", ns)
    assert set(owned.data) == {"before.podEvents", "before.state", "after-0.state"}  # created, then patched

    crash = paramedic.runbook(
        {"trigger": {"podCrashLoop": {"minRestarts": 1}}, "steps": [{"deletePod": {}}]}, name="crash"
    )
    target = pods(paramedic, "api")[0].metadata.name
    simulate.make_crashloop(paramedic.clients.core, ns, target, restarts=2)
    fired = one_remediation(paramedic, crash)
    paramedic.wait_phase(fired["metadata"]["name"], "Succeeded")
    # A 403 anywhere (not the milliseconds of a log timestamp, such as 11:12:21,403).
    assert not re.search(r"(?<![,.:\d])403\b|Forbidden", restricted_operator.log.read_text())
