"""Control-plane faults in the middle of a remediation: the API server, then
etcd, restarted while a three-step remediation waits on its second step. It
completes, no step runs twice, the operator reconnects without a restart of
its own, and its watches do not go silent."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from paramedic_dev import simulate
from paramedic_dev.cluster import DevCluster
from tests.cluster.test_triggers import one_remediation, pods
from tests.kit import Kit, gated_job
from tests.waiting import wait_until

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment"}


@pytest.mark.parametrize("fault", ["apiserver", "etcd"])
def test_a_remediation_survives_a_control_plane_restart(paramedic: Kit, cluster: DevCluster, fault: str) -> None:
    restart: Callable[[], None] = cluster.restart_apiserver if fault == "apiserver" else cluster.restart_etcd
    paramedic.deploy("api", replicas=2)
    gate = f"paramedic.dev/gate-{uuid.uuid4().hex[:6]}"
    runbook = paramedic.runbook({"steps": [{"scale": {"by": 1}}, gated_job(gate), {"scale": {"by": 1}}]})
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "api"})

    def waiting() -> bool:
        steps = paramedic.status(rem).get("steps") or []
        return len(steps) == 2 and "running" in steps[1].get("message", "")

    wait_until(waiting, 60, "step 2 to be waiting on its Job")
    operator_pid = paramedic.operator.pid

    restart()

    paramedic.clients.core.patch_node("kwok-node-0", {"metadata": {"labels": {gate: "open"}}})
    try:
        status = paramedic.wait_phase(rem, "Succeeded", timeout=120)
    finally:
        paramedic.clients.core.patch_node("kwok-node-0", {"metadata": {"labels": {gate: None}}})
    assert paramedic.operator.pid == operator_pid  # reconnected, not restarted
    assert [s["attempts"] for s in status["steps"]][0::2] == [1, 1]
    assert paramedic.deployment("api")["spec"]["replicas"] == 4  # +1 twice: each scale step once
    assert len(paramedic.clients.batch.list_namespaced_job(paramedic.namespace).items) == 1

    # The watches did not go silent: a crash loop after the restart still fires its trigger.
    crash = paramedic.runbook(
        {
            "trigger": {"podCrashLoop": {"minRestarts": 1}},
            "target": {"selector": {"matchLabels": {"app": "api"}}},
            "steps": [{"deletePod": {}}],
        }
    )
    victim = pods(paramedic, "api")[0].metadata.name
    simulate.make_crashloop(paramedic.clients.core, paramedic.namespace, victim, restarts=2)
    assert one_remediation(paramedic, crash)["spec"]["target"]["name"] == victim
