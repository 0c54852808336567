"""Fencing and the warm standby, with two leader-electing replicas on the control plane.

A frozen leader (SIGSTOP) keeps its process, its connections and its Lease
record until the Lease expires; these tests freeze one mid-remediation and
check that every action happens exactly once, that the old leader writes
nothing once resumed (its permit lapsed while it was frozen) and exits, and
that the standby, which watched everything from its start, acts on what it
already knew with no new event.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from paramedic.api.common import GROUP, VERSION
from paramedic_dev import simulate
from paramedic_dev.cluster import DevCluster, free_port
from paramedic_dev.install import OperatorProcess
from tests.cluster.conftest import ALLOWED_ORIGIN, AWS_ENV, OPERATOR_NAMESPACE
from tests.cluster.test_leader import holder
from tests.cluster.test_metrics import samples, value
from tests.cluster.test_safety import policy
from tests.cluster.test_triggers import pods, remediations
from tests.kit import Kit, gated_job
from tests.waiting import wait_until

#: Longer than test_leader's 4 s: on this shared, noisy machine a renew deadline of 2.7 s is sometimes missed
#: (a legitimate failover, which these tests must tell apart from the one they cause).
LEASE = 8.0


@dataclasses.dataclass
class Replica:
    process: OperatorProcess
    liveness: int
    metrics: int


@contextlib.contextmanager
def fenced_replicas(paramedic: Kit, cluster: DevCluster, prefix: str) -> Iterator[list[Replica]]:
    """Two leader-electing replicas (with their liveness endpoint and metrics on ports of their own) instead
    of the session's operator, which is restored afterwards. A frozen replica is thawed before it is stopped."""
    paramedic.operator.stop()
    made = []
    for i in range(2):
        liveness, metrics = free_port(), free_port()
        process = OperatorProcess(
            cluster.kubeconfig,
            cluster.workdir / "logs" / f"{prefix}-{i}-{uuid.uuid4().hex[:4]}.log",
            OPERATOR_NAMESPACE,
            "--leader-elect",
            "--lease-duration",
            str(LEASE),
            "--liveness",
            f"http://127.0.0.1:{liveness}/healthz",
            "--metrics-port",
            str(metrics),
            "--allowed-url-prefix",
            ALLOWED_ORIGIN,  # the tests' Prometheus on loopback, as the session's operator
            env={**AWS_ENV, "POD_NAME": f"{prefix}-{i}"},
        )
        made.append(Replica(process, liveness, metrics))
    try:
        yield made
    finally:
        for replica in made:
            if replica.process.pid is not None and replica.process.running:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(replica.process.pid, signal.SIGCONT)
            replica.process.stop()
        paramedic.operator.start_and_wait()


def alive(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def freeze(replica: OperatorProcess) -> None:
    assert replica.pid is not None
    os.kill(replica.pid, signal.SIGSTOP)


def thaw(replica: OperatorProcess) -> None:
    assert replica.pid is not None
    os.kill(replica.pid, signal.SIGCONT)


def writes(port: int) -> dict[tuple[str, str, str], float]:
    """A replica's writes by (client, verb, resource); asking who it is (a review) changes nothing."""
    found = {}
    for (name, labels), count in samples(port).items():
        label = dict(labels)
        written = label.get("verb") in ("create", "update", "patch", "delete") and count
        if name == "paramedic_api_requests_total" and written and not label["resource"].endswith("reviews"):
            found[label["client"], label["verb"], label["resource"]] = count
    return found


def leadership_log(*replicas: OperatorProcess) -> str:
    """What each replica said about the Lease (for a failure's message)."""
    words = ("leader", "lease", "standing by", "stop acting")
    return "\n".join(
        f"{r.log.name}: {line}"
        for r in replicas
        for line in r.log.read_text().splitlines()
        if any(w in line for w in words)
    )


def applied(paramedic: Kit, rem: str) -> list[str]:
    return [e for e in paramedic.events("Remediation", rem) if e.startswith("ActionApplied")]


@pytest.fixture
def pair(paramedic: Kit, cluster: DevCluster) -> Iterator[list[Replica]]:
    with fenced_replicas(paramedic, cluster, "fenced") as made:
        yield made


def lead_and_stand_by(paramedic: Kit, pair: list[Replica], prefix: str = "fenced") -> client.CoordinationV1Api:
    leases = client.CoordinationV1Api(paramedic.clients.api_client)
    first, second = (r.process for r in pair)
    first.start_and_wait()
    wait_until(lambda: holder(leases) == f"{prefix}-0", 30, f"{prefix}-0 to lead")
    second.start_and_wait()  # Kopf starts on the standby too: its watches open from process start
    wait_until(lambda: "waiting for leadership" in second.log.read_text(), 30, f"{prefix}-1 to stand by")
    wait_until(lambda: alive(pair[1].liveness), 30, "the standby's liveness endpoint")
    return leases


def test_a_frozen_leader_is_fenced_and_every_action_happens_exactly_once(paramedic: Kit, pair: list[Replica]) -> None:
    leases = lead_and_stand_by(paramedic, pair)
    first, second = (r.process for r in pair)
    paramedic.deploy("api", replicas=1)
    gate = f"paramedic.dev/gate-{uuid.uuid4().hex[:6]}"
    runbook = paramedic.runbook({"steps": [{"scale": {"by": 1}}, gated_job(gate), {"scale": {"by": 1}}]})
    rem = paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"})

    def waiting_on_its_job() -> bool:
        steps = paramedic.status(rem).get("steps") or []
        return len(steps) == 2 and bool(paramedic.clients.batch.list_namespaced_job(paramedic.namespace).items)

    wait_until(waiting_on_its_job, 60, "step 2 to wait on its Job")
    # The standby, which watches it all, wrote nothing so far (and tried nothing the fence refused).
    assert writes(pair[1].metrics) == {}, leadership_log(first, second)
    assert "not the leader" not in second.log.read_text()
    freeze(first)  # mid-remediation, holding the Lease
    wait_until(lambda: holder(leases) == "fenced-1", 3 * LEASE + 10, "the standby to take the Lease")
    paramedic.clients.core.patch_node("kwok-node-0", {"metadata": {"labels": {gate: "open"}}})
    try:
        status = paramedic.wait_phase(rem, "Succeeded", timeout=90)
    finally:
        paramedic.clients.core.patch_node("kwok-node-0", {"metadata": {"labels": {gate: None}}})

    # Its last word (the Event that follows the final status write) is said before the old leader resumes.
    wait_until(lambda: any(e.startswith("Succeeded") for e in paramedic.events("Remediation", rem)), 30, "its Event")
    before = paramedic.get(rem)["metadata"]["resourceVersion"], paramedic.deployment("api")["metadata"]
    events_before = sorted(paramedic.events("Remediation", rem))
    thaw(first)
    wait_until(lambda: not first.running, 30, "the old leader to exit once resumed")
    after = paramedic.get(rem)["metadata"]["resourceVersion"], paramedic.deployment("api")["metadata"]

    # Exactly once: each step applied once, by one leader or the other, with the plan it recorded.
    # (a runJob step's attempts count its polls of the Job: the one Job below is what says it ran once)
    assert [s["attempts"] for s in (status["steps"][0], status["steps"][2])] == [1, 1]
    assert [s["changes"]["to"] for s in (status["steps"][0], status["steps"][2])] == [2, 3]
    assert paramedic.deployment("api")["spec"]["replicas"] == 3
    assert len(paramedic.clients.batch.list_namespaced_job(paramedic.namespace).items) == 1
    assert len(applied(paramedic, rem)) == 3
    # The intents carry their leadership: the first two steps the old leader's, the last the new one's.
    epochs = [s["leadership"] for s in status["steps"]]
    assert epochs[0] == epochs[1]
    assert epochs[0].startswith("fenced-0#")
    assert epochs[2].startswith("fenced-1#")
    assert int(epochs[2].split("#")[1]) > int(epochs[0].split("#")[1])
    # The old leader wrote nothing once resumed, and said why it stopped.
    assert (before[0], before[1]["resourceVersion"]) == (after[0], after[1]["resourceVersion"])
    assert sorted(paramedic.events("Remediation", rem)) == events_before
    text = first.log.read_text()
    assert "lost the lease" in text or "within the renew deadline" in text
    assert "became the leader" in second.log.read_text()


def test_the_standby_watches_from_start_and_acts_on_a_crash_loop_it_already_knew_of(
    paramedic: Kit, pair: list[Replica]
) -> None:
    leases = lead_and_stand_by(paramedic, pair)
    first, second = (r.process for r in pair)
    assert alive(pair[0].liveness)
    assert alive(pair[1].liveness)
    assert value(pair[0].metrics, "paramedic_leader") == 1
    assert value(pair[1].metrics, "paramedic_leader") == 0

    paramedic.deploy("api", replicas=1)
    victim = pods(paramedic, "api")[0].metadata.name
    budget = policy(paramedic, "warm", {"windows": [{"max": 5, "per": "1h"}], "cooldown": "0s"})
    runbook = paramedic.runbook(
        {
            "trigger": {"podCrashLoop": {"minRestarts": 1}},
            "target": {"selector": {"matchLabels": {"app": "api"}}},
            "rateLimitPolicyRef": {"name": budget},
            "steps": [{"scale": {"by": 1}}],  # acts on the Deployment: the crash-looping pod stays untouched
        },
        name="warm",
    )

    def armed() -> Any:
        found = paramedic.clients.custom.get_namespaced_custom_object(
            GROUP, VERSION, paramedic.namespace, "runbooks", runbook
        )
        return (found.get("status") or {}).get("triggerKind")

    wait_until(armed, 30, "the runbook armed")
    freeze(first)  # the leader sees nothing from now on; only the standby's watches see the crash loop
    simulate.make_crashloop(paramedic.clients.core, paramedic.namespace, victim, restarts=3)
    crashed = paramedic.clients.core.read_namespaced_pod(victim, paramedic.namespace).metadata.resource_version
    wait_until(lambda: holder(leases) == "fenced-1", 3 * LEASE + 10, "the standby to take the Lease")

    (rem,) = wait_until(lambda: remediations(paramedic, runbook) or None, 60, "the standby to act")
    wait_until(lambda: paramedic.deployment("api")["spec"]["replicas"] == 2, 60, "the scale applied")
    # (its rollout cannot complete: the victim still crash-loops, so the step stays Verifying)
    assert paramedic.status(rem["metadata"]["name"])["steps"][0]["leadership"].startswith("fenced-1#")
    assert rem["spec"]["target"]["name"] == victim
    assert value(pair[1].metrics, "paramedic_leader") == 1
    # No new event led to it: the pod has not changed since it crashed, before the take-over.
    assert paramedic.clients.core.read_namespaced_pod(victim, paramedic.namespace).metadata.resource_version == crashed
    assert f"trigger Runbook/{paramedic.namespace}/warm fired" in second.log.read_text()
    first.kill()


def test_a_standby_takes_the_lease_only_after_seeing_it_unrenewed_for_the_whole_duration(
    clients: Any, namespace: str
) -> None:
    """Two electors in this process on a Lease of their own, each with a clock of its own: expiry is judged
    by how long the standby has watched the record unchanged, never by the (wall-clock) renewTime."""
    from paramedic.leader import Elector

    name = f"fence-{uuid.uuid4().hex[:6]}"
    leader_clock, standby_clock = Clock(), Clock()
    leader = Elector(clients, namespace, name, 10, 6, 1, me="a", clock=leader_clock)
    standby = Elector(clients, namespace, name, 10, 6, 1, me="b", clock=standby_clock)
    assert leader.try_acquire()
    assert leader.permit.valid()
    assert leader.permit.epoch == "a#0"
    assert not standby.try_acquire()  # first sight of the record: its clock starts now
    assert not standby.permit.valid()
    standby_clock.now = 9.9
    assert not standby.try_acquire()
    leader_clock.now = 5.0
    assert leader.try_acquire()  # a renew: a new record, the standby starts over
    standby_clock.now = 10.5
    assert not standby.try_acquire()
    leader_clock.now = 5.0 + 6.0  # the leader, cut off since, reaches its renew deadline
    assert not leader.permit.valid()
    standby_clock.now = 10.5 + 10.0  # well after it lapsed, the standby may take it: a new epoch
    assert not standby.try_acquire()
    standby_clock.now = 10.5 + 10.01
    assert standby.try_acquire()
    assert standby.permit.valid()
    assert standby.permit.epoch == "b#1"
    leader_clock.now = 12.0
    assert not leader.try_acquire()  # the old leader's renew is refused: the Lease names b


def test_a_leader_that_stops_cleanly_hands_the_lease_over_at_once(clients: Any, namespace: str) -> None:
    from paramedic.leader import Elector

    name = f"fence-{uuid.uuid4().hex[:6]}"
    leader = Elector(clients, namespace, name, 60, 40, 5, me="a", clock=Clock())
    standby = Elector(clients, namespace, name, 60, 40, 5, me="b", clock=Clock())
    assert leader.try_acquire()
    assert not standby.try_acquire()
    leader.release()
    assert not leader.permit.valid()  # it acts no more, from before the hand-over
    assert standby.try_acquire()  # the same instant on its clock: no need to wait the lease out
    assert standby.permit.epoch == "b#1"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now
