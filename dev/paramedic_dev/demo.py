"""``paramedic-devcluster demo`` (``make demo``): the guided demo on a local control plane.

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

from paramedic.api.common import GROUP, VERSION
from paramedic.api.remediation import TERMINAL_PHASES
from paramedic.kube import Clients
from paramedic_dev import simulate
from paramedic_dev.cluster import DevCluster
from paramedic_dev.install import OperatorProcess, apply_crds, ensure_namespace

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ADMISSION = EXAMPLES.parent / "deploy" / "base" / "admission.yaml"
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
        say("Installing the paramedic CRDs, its admission policy and starting the operator")
        apply_crds(clients)
        ensure_namespace(clients, OPERATOR_NAMESPACE)
        apply_file(cluster, ADMISSION)  # without it the operator honours no approval (docs/security.md)
        operator = OperatorProcess(cluster.kubeconfig, cluster.workdir / "logs" / "operator.log", OPERATOR_NAMESPACE)
        operator.start_and_wait()
        try:
            return _story(cluster, clients)
        finally:
            operator.stop()
            print(f"\noperator log: {operator.log} (removed with the cluster)")


DEMO_NODE_RUNBOOK = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "ClusterRunbook",
    "metadata": {"name": "demo-drain-not-ready-node"},
    "spec": {
        "description": "Demo: a node NotReady for 5 s is cordoned and drained.",
        "trigger": {"nodeNotReady": {"for": "5s"}},
        "target": {"kinds": ["Node"]},
        "steps": [{"cordon": {}}, {"drain": {"deleteEmptyDirData": True, "force": True}, "timeout": "2m"}],
    },
}


def _triggered(clients: Clients, namespace: str, runbook: str, timeout: float = 60) -> str:
    """The name of the Remediation a trigger creates for ``runbook``, once it exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = clients.custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, "remediations", label_selector=f"paramedic.dev/runbook={runbook}"
        )["items"]
        if items:
            rem = items[0]
            evidence = rem["spec"]["trigger"]["evidence"]
            print(
                f"    trigger {rem['spec']['trigger']['kind']} fired: {evidence.get('object')} -> remediation "
                f"{namespace}/{rem['metadata']['name']}",
                flush=True,
            )
            return str(rem["metadata"]["name"])
        time.sleep(0.2)
    raise TimeoutError(f"no remediation of {runbook} appeared")


def _story(cluster: DevCluster, clients: Clients) -> int:
    say("Deploying Paintbox (apollo-router x3, frontend x2), its runbooks and policies")
    for name in ("apollo-router.yaml", "policies.yaml", "runbook-restart-router.yaml", "runbook-oom.yaml"):
        apply_file(cluster, EXAMPLES / "paintbox" / name)
    clients.custom.create_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", DEMO_NODE_RUNBOOK)
    _wait_ready(clients, "paintbox", "app=apollo-router", 3)
    outcomes = []

    say("Breaking it: an apollo-router pod starts crash-looping (nobody applies anything: a trigger reacts)")
    pod = clients.core.list_namespaced_pod("paintbox", label_selector="app=apollo-router").items[0].metadata.name
    simulate.make_crashloop(clients.core, "paintbox", pod, restarts=6)
    print(f"    pod {pod}: CrashLoopBackOff, 6 restarts")
    outcomes.append(follow(clients, "paintbox", _triggered(clients, "paintbox", "restart-router")))

    say("Breaking it again: a frontend container is OOM-killed")
    pod = clients.core.list_namespaced_pod("paintbox", label_selector="app=frontend").items[0].metadata.name
    simulate.make_oomkilled(clients.core, "paintbox", pod)
    print(f"    pod {pod}: lastState OOMKilled (exit 137)")
    outcomes.append(follow(clients, "paintbox", _triggered(clients, "paintbox", "oom-raise-memory")))

    say("Breaking a node: kwok-node-0 stops reporting Ready")
    simulate.make_node_not_ready(clients.core, "kwok-node-0")
    outcomes.append(
        follow(clients, OPERATOR_NAMESPACE, _triggered(clients, OPERATOR_NAMESPACE, "demo-drain-not-ready-node"))
    )

    say("A one-off fix, the GitOps way: kubectl apply -f examples/paintbox/remediation-restart-router.yaml")
    apply_file(cluster, EXAMPLES / "paintbox" / "remediation-restart-router.yaml")
    outcomes.append(follow(clients, "paintbox", "restart-apollo-router"))

    say("History: paramedic history -A")
    subprocess.run([sys.executable, "-m", "paramedic", "history", "-A"], env=cluster.env(), check=False)
    failed = [o for o in outcomes if o not in ("Succeeded", "RateLimited", "Skipped")]
    held = [o for o in outcomes if o in ("RateLimited", "Skipped")]
    if held:
        print(f"\n    {len(held)} remediation(s) held back by policy (a freeze window or a rate limit): see above")
    say(
        "Demo finished: every remediation succeeded"
        if not failed and not held
        else "Demo finished"
        if not failed
        else "Demo finished with a failed remediation"
    )
    return 1 if failed else 0


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
