"""docs/install.md followed as a user follows it, on a fresh control plane of its own (a user's cluster: no
objects of other tests, the chart's cluster-wide objects its own), as far as it goes without a container
runtime: the pods are processes run with the installed Deployment's args and ServiceAccount.

1. ``helm install`` (the chart's CRDs with it), the webhook token Secret, the operator ready by its probe;
2. a first remediation: an example runbook linted offline, the examples applied, the example Remediation
   acted on and listed by ``paramedic history``;
3. upgrade: the CRDs re-applied as the docs say, ``helm upgrade --reuse-values`` with a changed value, the
   new Deployment's args run (the rollout): nothing acted on again, a new Remediation acted on;
4. uninstall: an escalating Remediation (paramedic's finalizer on it) deleted while the operator runs, as the
   docs say, goes; nothing open, ``helm uninstall``, the CRDs and Remediations kept, no finalizer left to hang
   a namespace's deletion.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from paramedic.api.common import GROUP, VERSION
from paramedic.kube import Clients
from paramedic.operator import FINALIZER
from paramedic_dev.cluster import DevCluster
from tests.cluster.test_ha_install import Replica, serviceaccount_kubeconfig
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "paramedic"
EXAMPLES = ROOT / "examples" / "paintbox"
NAMESPACE = "paramedic-system"  # the docs' namespace
TOKEN = uuid.uuid4().hex


@pytest.fixture(scope="module")
def fresh() -> Iterator[DevCluster]:
    with DevCluster(nodes=1) as cluster:
        yield cluster


def run(
    cluster: DevCluster, *argv: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, env=cluster.env(), input=stdin, capture_output=True, text=True, timeout=120)
    assert not check or result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"
    return result


def helm(cluster: DevCluster, *args: str) -> str:
    return run(cluster, str(cluster.bin["helm"]), *args).stdout


def kubectl(
    cluster: DevCluster, *args: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run(cluster, str(cluster.bin["kubectl"]), *args, check=check, stdin=stdin)


def paramedic_cli(cluster: DevCluster, *args: str) -> str:
    return run(cluster, sys.executable, "-m", "paramedic", *args).stdout


def operator_container(cluster: DevCluster) -> tuple[dict[str, Any], str]:
    """The installed release's Deployment container and ServiceAccount (``helm get manifest``)."""
    manifest = [d for d in yaml.safe_load_all(helm(cluster, "get", "manifest", "paramedic", "-n", NAMESPACE)) if d]
    deployment = next(d for d in manifest if d["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container, deployment["spec"]["template"]["spec"]["serviceAccountName"]


def start_operator(cluster: DevCluster, clients: Clients, generation: int) -> Replica:
    container, account = operator_container(cluster)
    kubeconfig = serviceaccount_kubeconfig(cluster, clients.core, account, NAMESPACE)
    replica = Replica(cluster, kubeconfig, container, generation, prefix="walkthrough")
    replica.process.start()
    wait_until(lambda: replica.live() and replica.ready(), 90, "the operator pod to be ready")
    return replica


def remediation(clients: Clients, name: str) -> dict[str, Any]:
    found: dict[str, Any] = clients.custom.get_namespaced_custom_object(
        GROUP, VERSION, "paintbox", "remediations", name
    )
    return found


def succeeded(clients: Clients, name: str) -> None:
    def done() -> bool:
        phase = (remediation(clients, name).get("status") or {}).get("phase")
        assert phase in (None, "Pending", "Running", "Verifying", "Succeeded"), phase
        return phase == "Succeeded"

    wait_until(done, 120, f"{name} to succeed")


def restarted_at(clients: Clients) -> str | None:
    router = clients.apps.read_namespaced_deployment("apollo-router", "paintbox")
    return (router.spec.template.metadata.annotations or {}).get("kubectl.kubernetes.io/restartedAt")


def escalating(cluster: DevCluster, clients: Clients) -> None:
    """A Remediation that fails (no earlier revision to roll back to) under the example's EscalationPolicy:
    it escalates, and paramedic's finalizer is on it while it does."""
    documents = yaml.safe_load_all((EXAMPLES / "policies.yaml").read_text())
    oncall = next(d for d in documents if d and d["kind"] == "EscalationPolicy")
    runbook = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Runbook",
        "metadata": {"name": "roll-back", "namespace": "paintbox"},
        "spec": {"escalationPolicyRef": {"name": oncall["metadata"]["name"]}, "steps": [{"rollback": {}}]},
    }
    failing = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Remediation",
        "metadata": {"name": "escalate-me", "namespace": "paintbox"},
        "spec": {
            "runbookRef": {"kind": "Runbook", "name": "roll-back"},
            "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "lonely"},
            "reason": "the uninstall walk-through: an open escalation",
        },
    }
    kubectl(cluster, "-n", "paintbox", "create", "deployment", "lonely", "--image=lonely:1")
    kubectl(cluster, "apply", "-f", "-", stdin=yaml.safe_dump_all([oncall, runbook, failing]))

    def holding() -> bool:
        found = remediation(clients, "escalate-me")
        state = ((found.get("status") or {}).get("escalation") or {}).get("state")
        return state == "Active" and FINALIZER in (found["metadata"].get("finalizers") or [])

    wait_until(holding, 120, "the failed Remediation to escalate, holding the finalizer")


def test_install_first_remediation_upgrade_and_uninstall(fresh: DevCluster) -> None:
    cluster = fresh
    clients = Clients(cluster.api_client())
    # 1. Install with Helm.
    helm(cluster, "install", "paramedic", str(CHART), "-n", NAMESPACE, "--create-namespace", "--wait=false")
    kubectl(
        cluster, "-n", NAMESPACE, "create", "secret", "generic", "alertmanager-webhook", f"--from-literal=token={TOKEN}"
    )
    operator = start_operator(cluster, clients, 0)
    try:
        # 2. A first remediation: lint offline, apply the examples, follow it.
        assert "0 problems" in paramedic_cli(cluster, "lint", str(EXAMPLES / "runbook-restart-router.yaml"))
        for example in ("apollo-router.yaml", "runbook-restart-router.yaml", "remediation-restart-router.yaml"):
            kubectl(cluster, "apply", "-f", str(EXAMPLES / example))
        succeeded(clients, "restart-apollo-router")
        first_restart = restarted_at(clients)
        assert first_restart is not None  # the rollout restart was applied
        history = json.loads(
            paramedic_cli(cluster, "history", "-n", "paintbox", "-o", "json", "--kubeconfig", str(cluster.kubeconfig))
        )
        assert "restart-apollo-router" in json.dumps(history)

        # 3. Upgrade: the CRDs first (Helm does not), then the release with a changed value; the new pods.
        crds = kubectl(cluster, "apply", "--server-side", "--force-conflicts", "-f", str(CHART / "crds"))
        assert crds.stdout.count("serverside-applied") == 5, crds.stdout
        upgraded = helm(
            cluster, "upgrade", "paramedic", str(CHART), "-n", NAMESPACE, "--reuse-values",
            "--set", "outbound.timeoutSeconds=20",
        )  # fmt: skip
        assert "Upgrading: Helm does not upgrade CRDs" in upgraded  # NOTES.txt repeats the CRD step
        assert "--outbound-timeout=20" in operator_container(cluster)[0]["args"]
        operator.process.stop()  # the rollout: the old pod goes, the new one starts with the new args
        operator = start_operator(cluster, clients, 1)
        second = yaml.safe_load((EXAMPLES / "remediation-restart-router.yaml").read_text())
        second["metadata"]["name"] = "restart-apollo-router-again"
        kubectl(cluster, "apply", "-f", "-", stdin=yaml.safe_dump(second))
        succeeded(clients, "restart-apollo-router-again")
        assert restarted_at(clients) != first_restart  # the upgraded operator acted on the new one
        assert (remediation(clients, "restart-apollo-router").get("status") or {})["phase"] == "Succeeded"

        # 4. Uninstall, first the open Remediations: one escalating holds paramedic's finalizer; deleted while
        # the operator still runs, it goes (the operator removes its finalizer), as the docs say to do.
        escalating(cluster, clients)
        kubectl(cluster, "-n", "paintbox", "delete", "remediation", "escalate-me", "--timeout=60s")
    finally:
        operator.process.stop()

    # Nothing open any more: the release goes; the CRDs and the history stay.
    everything = json.loads(
        paramedic_cli(cluster, "history", "-A", "-o", "json", "--kubeconfig", str(cluster.kubeconfig))
    )
    assert len(everything) == 2, everything
    assert {r["phase"] for r in everything} == {"Succeeded"}  # none open: nothing to finish first
    helm(cluster, "uninstall", "paramedic", "-n", NAMESPACE)
    assert kubectl(cluster, "get", "deployment", "paramedic", "-n", NAMESPACE, check=False).returncode != 0
    assert kubectl(cluster, "get", "crd", "remediations.paramedic.dev").returncode == 0
    kept = clients.custom.list_namespaced_custom_object(GROUP, VERSION, "paintbox", "remediations")["items"]
    assert sorted(r["metadata"]["name"] for r in kept) == ["restart-apollo-router", "restart-apollo-router-again"]
    assert [r["metadata"].get("finalizers") for r in kept] == [None, None]  # nothing for a gone operator to remove
    deleted = kubectl(cluster, "delete", "namespace", "paintbox", "--wait=true", "--timeout=90s")
    assert deleted.returncode == 0, deleted.stderr
