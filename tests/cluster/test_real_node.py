"""On the real node (a kubelet on containerd, paramedic_dev.node), the states paramedic reacts to are written
by the kubelet about real processes: a container exiting non-zero crash-loops, one over its memory limit is
killed by the kernel. The operator's triggers act on them, and the fix is verified on real processes too. And the
operator itself runs there as deploy/base's Deployment, from its image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from paramedic_dev import node, objects
from paramedic_dev.cluster import DevCluster, free_port
from tests.cluster.conftest import OPERATOR_NAMESPACE, kubectl
from tests.cluster.realnode import MISSING, SKIP_REASON, Real, operator_image, real
from tests.cluster.test_triggers import one_remediation
from tests.kit import Kit
from tests.waiting import wait_until

__all__ = ["operator_image", "real"]  # the shared fixtures, imported to be used here
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "base"
pytestmark = pytest.mark.skipif(bool(MISSING), reason=SKIP_REASON)


def real_deployment(paramedic: Kit, real: Real, name: str, container: dict[str, Any]) -> None:
    body = objects.deployment(name, replicas=1)
    body["spec"]["template"]["spec"] = real.pod_spec({"name": "app", **container})
    paramedic.clients.apps.create_namespaced_deployment(paramedic.namespace, body)


def container_status(paramedic: Kit, app: str) -> tuple[str, dict[str, Any]] | None:
    """(pod name, its container's status) of the app's one pod, once the kubelet has reported one."""
    found = paramedic.clients.core.list_namespaced_pod(paramedic.namespace, label_selector=f"app={app}").items
    for pod in found:
        statuses = paramedic.clients.plain(pod).get("status", {}).get("containerStatuses") or []
        if statuses:
            return pod.metadata.name, statuses[0]
    return None


def test_a_failing_container_really_crash_loops_and_the_trigger_acts(paramedic: Kit, real: Real) -> None:
    real_deployment(paramedic, real, "crasher", {"image": real.base, "command": ["sh", "-c", "echo dying; exit 3"]})

    def crash_looping() -> tuple[str, dict[str, Any]] | None:
        found = container_status(paramedic, "crasher")
        if found and (found[1].get("state", {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff":
            return found
        return None

    pod, status = wait_until(crash_looping, 120, "the kubelet to report CrashLoopBackOff")
    assert status["lastState"]["terminated"]["exitCode"] == 3  # the process's own exit status
    assert status["containerID"].startswith("containerd://")

    runbook = paramedic.runbook({"trigger": {"podCrashLoop": {"minRestarts": 1}}, "steps": [{"deletePod": {}}]})
    fired = one_remediation(paramedic, runbook)
    assert fired["spec"]["target"]["name"] == pod
    paramedic.wait_phase(fired["metadata"]["name"], "Succeeded", timeout=120)
    replaced = wait_until(
        lambda: (found := container_status(paramedic, "crasher")) and found[0] != pod and found,
        120,
        "a new pod in place of the deleted one",
    )
    assert replaced[0] != pod


def test_a_container_over_its_memory_limit_is_oom_killed_and_the_raised_limit_holds(paramedic: Kit, real: Real) -> None:
    # About 90 MiB resident: over a 64Mi limit, under the 128Mi the runbook raises it to.
    hog = "x = bytearray(80 * 2**20); import time; time.sleep(3600)"
    real_deployment(
        paramedic,
        real,
        "hog",
        {"image": real.base, "command": ["python3", "-c", hog], "resources": {"limits": {"memory": "64Mi"}}},
    )

    def oom_killed() -> tuple[str, dict[str, Any]] | None:
        found = container_status(paramedic, "hog")
        if found and (found[1].get("lastState", {}).get("terminated") or {}).get("reason") == "OOMKilled":
            return found
        return None

    _, status = wait_until(oom_killed, 120, "the kubelet to report an OOM kill")
    assert status["lastState"]["terminated"]["exitCode"] == 137  # SIGKILL, from the kernel's OOM killer

    runbook = paramedic.runbook(
        {
            "trigger": {"podOOMKilled": {}},
            "target": {"kinds": ["Deployment"]},
            "steps": [
                {
                    "raiseMemoryLimit": {"factor": 2, "cap": "256Mi"},
                    "verify": {"check": "PodsHealthy", "timeout": "2m", "stableFor": "15s"},
                }
            ],
        }
    )
    fired = one_remediation(paramedic, runbook)
    paramedic.wait_phase(fired["metadata"]["name"], "Succeeded", timeout=240)
    container = paramedic.deployment("hog")["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["memory"] == "128Mi"
    # The process now really runs under the raised limit: its pod is Ready, not killed again.
    found = wait_until(
        lambda: (f := container_status(paramedic, "hog")) and f[1].get("ready") and f, 120, "the hog to run"
    )
    assert "terminated" not in found[1]["state"]


def operator_deployment(cluster: DevCluster, operator_image: str) -> dict[str, Any]:
    """deploy/base's Deployment, changed only where this machine needs it (each change named)."""
    body: dict[str, Any] = yaml.safe_load((DEPLOY / "deployment.yaml").read_text())
    body["spec"]["replicas"] = 1  # one is enough to remediate; leader election has its own tests
    pod = body["spec"]["template"]["spec"]
    pod.update(node.placement())
    (container,) = pod["containers"]
    assert container["image"] == "paramedic:0.1.0"
    container["image"] = operator_image  # this run's build, loaded into the node (no registry to pull from)
    container["imagePullPolicy"] = "Never"
    # On the host's network the Deployment's fixed ports could be anyone's on this shared machine: free ones.
    ports = {
        "--metrics-port=8080": f"--metrics-port={free_port()}",
        "--liveness=http://0.0.0.0:8081/healthz": f"--liveness=http://127.0.0.1:{free_port()}/healthz",
        "--webhook-port=9095": f"--webhook-port={free_port()}",
        "--readiness=http://0.0.0.0:8082/readyz": f"--readiness=http://127.0.0.1:{free_port()}/readyz",
    }
    assert set(ports) <= set(container["args"])
    container["args"] = [ports.get(arg, arg) for arg in container["args"]]
    # The probes would go to the pod's IP, and a pod on the host's network of a node without an address has none.
    del container["livenessProbe"], container["readinessProbe"], container["ports"]
    # No kube-proxy here, so the kubernetes Service's ClusterIP leads nowhere: the API server's own address.
    container["env"] += [
        {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
        {"name": "KUBERNETES_SERVICE_PORT", "value": str(cluster.apiserver_port)},
    ]
    return body


def test_the_operator_runs_as_its_deployment_from_its_image(
    paramedic: Kit, real: Real, operator_image: str, cluster: DevCluster
) -> None:
    """The kubelet runs the operator's image with the Deployment's security context (uid 10001, read-only root,
    no capabilities, RuntimeDefault seccomp), its ServiceAccount's projected token and the cluster's CA
    (kube-root-ca.crt): the operator logs in from inside the pod and remediates."""
    applied = kubectl(cluster, "apply", "-n", OPERATOR_NAMESPACE, "-f", str(DEPLOY / "rbac.yaml"))
    assert applied.returncode == 0, applied.stderr
    real.node.load(operator_image)
    apps = paramedic.clients.apps
    body = operator_deployment(cluster, operator_image)
    name = body["metadata"]["name"]
    labels = ",".join(f"{k}={v}" for k, v in body["spec"]["selector"]["matchLabels"].items())

    def operator_pods() -> list[Any]:
        return list(paramedic.clients.core.list_namespaced_pod(OPERATOR_NAMESPACE, label_selector=labels).items)

    def log() -> str:
        return "".join(
            real.node.container_log(OPERATOR_NAMESPACE, p.metadata.name, "operator") for p in operator_pods()
        )

    paramedic.operator.stop()
    try:
        apps.create_namespaced_deployment(OPERATOR_NAMESPACE, body)
        wait_until(lambda: "Initial authentication has finished" in log(), 120, "the operator pod to log in")
        (pod,) = operator_pods()
        assert pod.spec.node_name == node.NAME
        status = wait_until(
            lambda: (found := operator_pods()[0].status.container_statuses[0]).ready and found, 60, "it to be ready"
        )
        assert status.image_id  # the image as the runtime knows it
        paramedic.deploy("api", replicas=1)
        runbook = paramedic.runbook({"steps": [{"scale": {"by": 1}}]})
        rem = paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"})
        try:
            paramedic.wait_phase(rem, "Succeeded", timeout=120)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\noperator pod log:\n{log()[-4000:]}") from None
        assert paramedic.deployment("api")["spec"]["replicas"] == 2
        assert "Forbidden" not in log()
    finally:
        apps.delete_namespaced_deployment(name, OPERATOR_NAMESPACE)
        wait_until(lambda: not operator_pods(), 90, "the operator pod to be gone")
        paramedic.operator.start_and_wait()
