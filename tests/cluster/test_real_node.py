"""On the real node (a kubelet on containerd, paramedic_dev.node), the states paramedic reacts to are written
by the kubelet about real processes: a container exiting non-zero crash-loops, one over its memory limit is
killed by the kernel. The operator's triggers act on them, and the fix is verified on real processes too."""

from __future__ import annotations

from typing import Any

import pytest

from paramedic_dev import objects
from tests.cluster.realnode import MISSING, SKIP_REASON, Real, real
from tests.cluster.test_triggers import one_remediation
from tests.kit import Kit
from tests.waiting import wait_until

__all__ = ["real"]  # the session fixture, imported to be used here
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
