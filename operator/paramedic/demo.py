"""``paramedic demo``: the guided demo on a local control plane.

It starts the control plane (building it once), installs the CRDs and the
example runbooks, starts the operator, breaks things the way production
breaks, and shows each remediation as it happens, then the history.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from paramedic.api.common import GROUP, VERSION
from paramedic.api.remediation import TERMINAL_PHASES
from paramedic.devcluster import simulate
from paramedic.devcluster.cluster import DevCluster
from paramedic.devcluster.install import OperatorProcess, apply_crds, ensure_namespace
from paramedic.kube import Clients

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
OPERATOR_NAMESPACE = "paramedic-system"


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def apply_file(cluster: DevCluster, path: Path) -> None:
    subprocess.run([str(cluster.bin["kubectl"]), "apply", "-f", str(path)], env=cluster.env(), check=True)


def follow(clients: Clients, namespace: str, name: str, timeout: float = 180) -> str:
    """Print each change of the Remediation's status until it ends; return its phase."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    phase = ""
    while time.monotonic() < deadline:
        obj: dict[str, Any] = clients.custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "remediations", name
        )
        status = obj.get("status") or {}
        phase = status.get("phase", "Pending")
        lines = [f"phase {phase}"] + [
            f"step {s['index'] + 1} {s['name']}: {s['phase']} - {s.get('message', '')}" for s in status.get("steps", [])
        ]
        for line in lines:
            if line not in seen:
                seen.add(line)
                print(f"    {time.strftime('%H:%M:%S')}  {line}", flush=True)
        if phase in TERMINAL_PHASES:
            print(f"    => {phase}: {status.get('message', '')}", flush=True)
            return str(phase)
        time.sleep(0.3)
    return phase


def main(nodes: int = 3) -> int:
    if not EXAMPLES.is_dir():
        print(f"the demo needs the repository's examples/ folder (looked in {EXAMPLES})", file=sys.stderr)
        return 2
    say("Starting a local Kubernetes control plane (etcd, kube-apiserver, controllers, scheduler, KWOK nodes)")
    with DevCluster(nodes=nodes) as cluster:
        clients = Clients(cluster.api_client())
        say("Installing the paramedic CRDs and starting the operator")
        apply_crds(clients)
        ensure_namespace(clients, OPERATOR_NAMESPACE)
        operator = OperatorProcess(cluster.kubeconfig, cluster.workdir / "logs" / "operator.log", OPERATOR_NAMESPACE)
        operator.start_and_wait()
        try:
            return _story(cluster, clients)
        finally:
            operator.stop()
            print(f"\noperator log: {operator.log} (removed with the cluster)")


def _story(cluster: DevCluster, clients: Clients) -> int:
    say("Deploying apollo-router (3 replicas) and the example runbooks")
    apply_file(cluster, EXAMPLES / "paintbox" / "apollo-router.yaml")
    apply_file(cluster, EXAMPLES / "paintbox" / "runbook-restart-router.yaml")
    apply_file(cluster, EXAMPLES / "cluster" / "clusterrunbook-drain-node.yaml")
    _wait_ready(clients, "paintbox", "app=apollo-router", 3)

    say("Breaking it: one router pod starts crash-looping")
    pod = clients.core.list_namespaced_pod("paintbox", label_selector="app=apollo-router").items[0].metadata.name
    simulate.make_crashloop(clients.core, "paintbox", pod, restarts=6)
    print(f"    pod {pod}: CrashLoopBackOff, 6 restarts")

    say("kubectl apply -f examples/paintbox/remediation-restart-router.yaml")
    apply_file(cluster, EXAMPLES / "paintbox" / "remediation-restart-router.yaml")
    outcomes = [follow(clients, "paintbox", "restart-apollo-router")]

    say("Breaking a node: kwok-node-0 stops reporting Ready")
    simulate.make_node_not_ready(clients.core, "kwok-node-0")
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Remediation",
        "metadata": {"name": "drain-kwok-node-0"},
        "spec": {
            "runbookRef": {"kind": "ClusterRunbook", "name": "drain-node"},
            "target": {"kind": "Node", "name": "kwok-node-0"},
            "reason": "node NotReady",
        },
    }
    print(yaml.safe_dump(body, sort_keys=False).replace("\n", "\n    "))
    clients.custom.create_namespaced_custom_object(GROUP, VERSION, OPERATOR_NAMESPACE, "remediations", body)
    outcomes.append(follow(clients, OPERATOR_NAMESPACE, "drain-kwok-node-0"))

    say("History: kubectl get remediations -A")
    subprocess.run(
        [str(cluster.bin["kubectl"]), "get", "remediations", "-A", "-o", "wide"], env=cluster.env(), check=False
    )
    ok = all(outcome == "Succeeded" for outcome in outcomes)
    say("Demo finished: every remediation succeeded" if ok else "Demo finished with a failed remediation")
    return 0 if ok else 1


def _wait_ready(clients: Clients, namespace: str, selector: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pods = clients.core.list_namespaced_pod(namespace, label_selector=selector).items
        ready = [p for p in pods if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
        if len(ready) >= count:
            print(f"    {len(ready)} pods ready")
            return
        time.sleep(0.3)
    raise TimeoutError(f"{selector} did not become ready")
