"""Two replicas with leader election: exactly one acts; when the leader is
killed mid-remediation the standby takes over within the lease duration and
finishes the remediation with no action repeated."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from paramedic_dev.cluster import DevCluster
from paramedic_dev.install import OperatorProcess
from tests.cluster.conftest import AWS_ENV, OPERATOR_NAMESPACE
from tests.kit import Kit, gated_job
from tests.waiting import wait_until

LEASE = 4.0


@contextlib.contextmanager
def leader_replicas(paramedic: Kit, cluster: DevCluster, prefix: str) -> Iterator[list[OperatorProcess]]:
    """Two leader-electing replicas instead of the session's operator (restored afterwards), each with a log
    and an identity of its own named after ``prefix`` (a test reads its replicas' whole logs)."""
    paramedic.operator.stop()
    made = [
        OperatorProcess(
            cluster.kubeconfig,
            cluster.workdir / "logs" / f"{prefix}-{i}.log",
            OPERATOR_NAMESPACE,
            "--leader-elect",
            "--lease-duration",
            str(LEASE),
            env={**AWS_ENV, "POD_NAME": f"{prefix}-{i}"},
        )
        for i in range(2)
    ]
    try:
        yield made
    finally:
        for replica in made:
            replica.stop()
        paramedic.operator.start_and_wait()


@pytest.fixture
def replicas(paramedic: Kit, cluster: DevCluster) -> Iterator[list[OperatorProcess]]:
    with leader_replicas(paramedic, cluster, "replica") as made:
        yield made


def holder(api: client.CoordinationV1Api) -> str | None:
    try:
        return str(api.read_namespaced_lease("paramedic-leader", OPERATOR_NAMESPACE).spec.holder_identity or "")
    except Exception:
        return None


def test_standby_takes_over_a_killed_leader_without_repeating_actions(
    paramedic: Kit, replicas: list[OperatorProcess]
) -> None:
    leases = client.CoordinationV1Api(paramedic.clients.api_client)
    first, second = replicas
    first.start_and_wait()
    wait_until(lambda: holder(leases) == "replica-0", 30, "replica-0 to lead")
    second.start()
    wait_until(lambda: "waiting for leadership" in second.log.read_text(), 30, "replica-1 to stand by")

    paramedic.deploy("api", replicas=1)
    gate = f"paramedic.dev/gate-{uuid.uuid4().hex[:6]}"
    runbook = paramedic.runbook(
        {
            "steps": [
                {"scale": {"by": 1}},
                gated_job(gate),
                {"scale": {"by": 1}},
            ]
        }
    )
    rem = paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"})
    wait_until(lambda: len(paramedic.status(rem).get("steps") or []) == 2, 60, "step 2 to wait on its Job")
    assert "became the leader" not in second.log.read_text()

    first.kill()
    killed = time.monotonic()
    wait_until(lambda: holder(leases) == "replica-1", 3 * LEASE + 10, "replica-1 to take the lease")
    took_over = time.monotonic() - killed
    paramedic.clients.core.patch_node("kwok-node-0", {"metadata": {"labels": {gate: "open"}}})
    try:
        status = paramedic.wait_phase(rem, "Succeeded", timeout=90)
    finally:
        paramedic.clients.core.patch_node("kwok-node-0", {"metadata": {"labels": {gate: None}}})

    assert took_over <= LEASE + 2 * (LEASE / 3) + 2  # expiry plus one renewal period, plus slack
    assert next(s["attempts"] for s in status["steps"]) == 1
    assert [s["changes"]["to"] for s in (status["steps"][0], status["steps"][2])] == [2, 3]
    assert paramedic.deployment("api")["spec"]["replicas"] == 3
    assert len(paramedic.clients.batch.list_namespaced_job(paramedic.namespace).items) == 1
