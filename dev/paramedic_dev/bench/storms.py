"""The loud phases: a storm of S crash loops under a budget of B, and the same with
two replicas whose leader is killed (SIGKILL) right after its first action."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from kubernetes import client

from ..install import OperatorProcess
from ..processes import wait_for
from . import audit
from .context import OPERATOR_NAMESPACE, REPLICA_USERS, Bench, crash_all
from .procstats import RssSampler
from .quiet import settle
from .workload import FAILOVER, STORM


def _decided(bench: Bench, namespace: str, count: int, timeout: float) -> float:
    """Wait until ``count`` Remediations of ``namespace`` are decided; when the last one was."""
    bench.remediations.wait(
        lambda: bench.remediations.count("decided", namespace) >= count,
        timeout,
        f"{count} Remediations in {namespace} to be decided (have {bench.remediations.tally(namespace)})",
    )
    return bench.remediations.times("decided", namespace)[count - 1]


def _actions(bench: Bench, namespace: str) -> list[float]:
    """The pod deletions seen, once every acted Remediation's deletion has shown on the pod watch."""
    succeeded = bench.remediations.tally(namespace).get("Succeeded", 0)
    with contextlib.suppress(TimeoutError):  # fewer deletions than Succeeded Remediations: reported as measured
        bench.pods.wait(lambda: bench.pods.count("acted", namespace) >= succeeded, 10, "the deletions to show")
    return bench.pods.times("acted", namespace)


def per_refused(requests: list[audit.Request], refused: set[str]) -> float | None:
    """Requests that name one refused Remediation (its object, status, or an Event about it), on average:
    a lower bound of what a refusal costs (shared reads and ledger writes name no Remediation)."""
    if not refused:
        return None

    def names(r: audit.Request) -> bool:
        if r.resource.startswith("remediations"):
            return r.name in refused
        return r.resource == "events" and r.name.rsplit(".", 1)[0] in refused

    return round(sum(1 for r in requests if names(r)) / len(refused), 2)


def _since(times: list[float], origin: float, index: int) -> float | None:
    return round(times[index] - origin, 3) if len(times) > index else None


def storm(bench: Bench, rss: RssSampler) -> None:
    """S pods crash at once under a runbook whose budget is B."""
    preset = bench.preset
    pods = bench.workload[STORM]
    began = time.time()
    returned = crash_all(bench.clients.core, STORM, pods)
    origin = min(returned)
    last = _decided(bench, STORM, len(pods), preset.storm_timeout)
    actions = _actions(bench, STORM)
    settle(bench)  # every request the storm caused, its tail included
    requests = bench.requests(began, time.time())
    bench.results["storm"] = {
        "pods": len(pods),
        "budget": preset.budget,
        "actions": len(actions),
        "crash_burst_s": round(max(returned) - origin, 3),
        "first_action_s": _since(actions, origin, 0),
        "budget_th_action_s": _since(actions, origin, preset.budget - 1),
        "all_decided_s": round(last - origin, 3),
        "phases": bench.remediations.tally(STORM),
        "refusal_reasons": bench.remediations.refusal_reasons(STORM),
        "requests_per_remediation": round(len(requests) / len(pods), 2),
        "writes_per_remediation": round(sum(r.write for r in requests) / len(pods), 2),
        "requests_naming_each_refused": per_refused(requests, bench.remediations.refused(STORM)),
        "requests": audit.summary(requests),
        "operator_cpu_s": rss.cpu(began, last),
    }


def _pid_of(process: OperatorProcess) -> Callable[[], int | None]:
    return lambda: process.pid


def _holder(leases: client.CoordinationV1Api) -> str:
    try:
        return str(leases.read_namespaced_lease("paramedic-leader", OPERATOR_NAMESPACE).spec.holder_identity or "")
    except client.ApiException:
        return ""


def failover(bench: Bench) -> None:
    """Two leader-electing replicas; the leader is killed mid-storm; the standby must finish within budget."""
    preset = bench.preset
    lease = preset.lease_seconds
    replicas = [
        OperatorProcess(
            bench.kubeconfig(user),
            bench.logs / f"replica-{i}.log",
            OPERATOR_NAMESPACE,
            "--leader-elect",
            "--lease-duration",
            str(lease),
            env={"POD_NAME": f"replica-{i}"},
        )
        for i, user in enumerate(REPLICA_USERS)
    ]
    leases = client.CoordinationV1Api(bench.clients.api_client)
    samplers = [RssSampler(_pid_of(replica)) for replica in replicas]
    for sampler in samplers:
        sampler.start()
    try:
        replicas[0].start_and_wait(120)
        wait_for(lambda: _holder(leases) == "replica-0", 60, "replica-0 to lead", replicas[:1])
        replicas[1].start()
        wait_for(lambda: "waiting for leadership" in replicas[1].log.read_text(), 120, "replica-1 to stand by")
        standby, killed = _kill_mid_storm(bench, replicas, leases)
        figures = bench.results["failover"]
        figures["standby_rss_before_kill_mb"] = round(samplers[standby].at(killed) / 2**20, 1)
        figures["replicas_rss_peak_mb"] = [round(sampler.peak() / 2**20, 1) for sampler in samplers]
    finally:
        for replica in replicas:
            replica.stop()
        for sampler in samplers:
            sampler.stop()


def _kill_mid_storm(
    bench: Bench, replicas: list[OperatorProcess], leases: client.CoordinationV1Api
) -> tuple[int, float]:
    """Storm, kill the leader after its first action, wait until all is decided; (standby's index, kill time)."""
    preset = bench.preset
    pods = bench.workload[FAILOVER]
    with ThreadPoolExecutor(max_workers=1) as pool:
        burst = pool.submit(crash_all, bench.clients.core, FAILOVER, pods)
        first = bench.pods.wait(lambda: bench.pods.times("acted", FAILOVER), preset.storm_timeout, "a first action")
        leader = _holder(leases)
        index = 0 if leader == "replica-0" else 1
        # A leader that could not renew its lease in time exits (crash-only); Kubernetes would restart it
        # as a standby, so the benchmark does too, and reports it.
        lost_lease = [f"replica-{i}" for i, replica in enumerate(replicas) if not replica.running]
        for replica in replicas:
            if not replica.running:
                replica.start()
        killed = time.time()
        replicas[index].kill()
        returned = burst.result()
    standby_user = REPLICA_USERS[1 - index]
    took_over = _wait_lease(leases, replicas[1 - index], f"replica-{1 - index}", preset.lease_seconds * 3 + 30)
    last = _decided(bench, FAILOVER, len(pods), preset.storm_timeout + preset.lease_seconds)
    actions = _actions(bench, FAILOVER)
    after = [t for t in actions if t > killed]
    requests = [r for r in bench.requests(killed, last + 1.0, REPLICA_USERS) if r.write and r.code < 300]
    standby = [r for r in requests if r.user == standby_user and r.resource.split("/")[0] != "leases"]
    standby_deletes = [r for r in standby if r.key == "delete pods"]
    bench.results["failover"] = {
        "pods": len(pods),
        "budget": preset.failover_budget,
        "lease_s": preset.lease_seconds,
        "standby": f"replica-{1 - index}",
        "leader_at_kill": leader,
        "exited_before_kill": lost_lease,
        "actions": len(actions),
        "actions_before_kill": len(actions) - len(after),
        "killed_after_first_action_s": round(killed - first[0], 3),
        "lease_taken_s": round(took_over - killed, 3),
        "standby_first_write_s": round(standby[0].at - killed, 3) if standby else None,
        "standby_first_action_s": round(standby_deletes[0].at - killed, 3) if standby_deletes else None,
        "standby_actions": len(standby_deletes),
        "all_decided_s": round(last - min(returned), 3),
        "phases": bench.remediations.tally(FAILOVER),
        "refusal_reasons": bench.remediations.refusal_reasons(FAILOVER),
    }
    return 1 - index, killed


def _wait_lease(leases: client.CoordinationV1Api, standby: OperatorProcess, who: str, timeout: float) -> float:
    """Until ``who`` holds the Lease. A standby that exits meanwhile (it had led, lost the Lease and
    stopped, crash-only) is restarted, as its Deployment would: else the run would wait for nobody."""

    def taken() -> bool:
        if not standby.running:
            standby.start()
        return _holder(leases) == who

    wait_for(taken, timeout, f"{who} to take the lease", every=0.05)
    return time.time()
