"""The quiet phases: the floor, start-up, idle, and detect->act one victim at a time."""

from __future__ import annotations

import sys
import time
from typing import Any

from ..install import OperatorProcess
from ..processes import Process, wait_for
from . import audit
from .context import OPERATOR_NAMESPACE, OPERATOR_USER, Bench, crash, percentiles
from .procstats import RssSampler
from .workload import DETECT, FLOOR

ACT_TIMEOUT = 60.0


def _series(bench: Bench, namespace: str, names: list[str], what: str, decided: bool) -> list[float]:
    """Crash each pod in turn; the time from the status patch's return to the action seen by the watch.
    With ``decided``, also wait for its Remediation to be decided before the next one (one at a time)."""
    core = bench.clients.core
    latencies = []
    for name in names:
        before = bench.remediations.count("decided", namespace)
        returned = crash(core, namespace, name)
        seen = bench.pods.wait_for(what, namespace, name, ACT_TIMEOUT)
        latencies.append(seen - returned)
        if decided:
            _wait_decided(bench, namespace, before + 1, f"the Remediation of {namespace}/{name} to be decided")
    return latencies


def _wait_decided(bench: Bench, namespace: str, count: int, what: str) -> None:
    bench.remediations.wait(lambda: bench.remediations.count("decided", namespace) >= count, ACT_TIMEOUT, what)


def floor(bench: Bench) -> None:
    """The bare watch -> patch loop, timed by the same watch as the operator."""
    log = bench.logs / "floor.log"
    argv = [sys.executable, "-m", "paramedic_dev.bench.floor", "--kubeconfig", str(bench.cluster.kubeconfig)]
    process = Process("floor", [*argv, "--namespace", FLOOR], log)
    process.start()
    try:
        wait_for(lambda: "floor: watching" in log.read_text(), 120, "the floor to watch", [process])
        latencies = _series(bench, FLOOR, bench.workload[FLOOR], "floor", decided=False)
    finally:
        process.stop()
    bench.results["floor"] = percentiles(latencies)


def operator(bench: Bench) -> tuple[OperatorProcess, RssSampler]:
    """The operator (its own user, its own log) and the sampler of its memory; neither started yet."""
    process = OperatorProcess(bench.kubeconfig(OPERATOR_USER), bench.logs / "operator.log", OPERATOR_NAMESPACE)
    return process, RssSampler(lambda: process.pid)


def start(bench: Bench, operator: OperatorProcess, rss: RssSampler) -> None:
    """Start the operator with a crash loop already in place; measure start-up until its first action."""
    victim = bench.workload[DETECT][0]
    crash(bench.clients.core, DETECT, victim)
    runbooks = bench.runbooks.count("exists")
    started = time.time()
    operator.start()
    rss.start()
    armed_at: float = bench.runbooks.wait(
        lambda: bench.runbooks.count("armed") >= runbooks and bench.runbooks.last("armed"),
        300,
        f"{runbooks} runbooks to be armed",
    )
    acted = bench.pods.wait_for("acted", DETECT, victim, 300)
    bench.remediations.wait(lambda: bench.remediations.count("decided", DETECT) >= 1, 120, "the first Remediation")
    settle(bench)
    settled = time.time()
    requests = bench.requests(started, settled)
    runbook_writes = sum(1 for r in requests if r.write and r.resource.startswith("runbooks"))
    bench.results["startup"] = {
        "runbooks": runbooks,
        "armed_s": round(armed_at - started, 3),
        "first_action_s": round(acted - started, 3),
        "action_after_armed_s": round(acted - armed_at, 3),
        "runbook_writes": runbook_writes,
        "runbook_writes_per_runbook": round(runbook_writes / max(1, runbooks), 2),
        "requests": audit.summary(requests),
        "rss_after_startup_mb": round(rss.at(settled) / 2**20, 1),
        "cpu_to_armed_s": rss.cpu(started, armed_at),
    }


def settle(bench: Bench, quiet: float = 3.0, limit: float = 60.0) -> float:
    """Wait until the operator has written nothing for ``quiet`` seconds (the tail of the work before,
    e.g. Kopf's last patch of a finished Remediation), at most ``limit`` seconds; returns how long it took.
    A writer more frequent than ``quiet`` keeps the wait to ``limit`` and then shows in the idle window."""
    began = time.time()
    while time.time() - began < limit:
        bench.check()
        writes = [r.at for r in bench.requests(began - quiet, time.time()) if r.write]
        last = max(writes, default=began - quiet)
        if time.time() - last >= quiet:
            break
        time.sleep(min(0.5, quiet - (time.time() - last)))
    return time.time() - began


def idle(bench: Bench, rss: RssSampler) -> None:
    """Nothing fails: what the operator asks of the API server, and its memory, over the idle window."""
    settled = settle(bench)
    began = time.time()
    end = began + bench.preset.idle_seconds
    while time.time() < end:  # a measurement window: nothing to wait for but the clock
        bench.check()
        time.sleep(min(1.0, max(0.0, end - time.time())))
    requests = bench.requests(began, end)
    bench.results["idle"] = {
        "seconds": bench.preset.idle_seconds,
        "settled_after_s": round(settled, 1),
        **audit.summary(requests),
        "write_list": [
            f"+{r.at - began:.2f}s {r.verb} {r.resource} {r.namespace}/{r.name} {r.code}" for r in requests if r.write
        ][:20],
        "rss_steady_mb": round(rss.median(began, end) / 2**20, 1),
        "cpu_s": rss.cpu(began, end),
    }


def detect(bench: Bench) -> None:
    """One crash loop at a time under a runbook that always acts."""
    victims = bench.workload[DETECT][1:]
    latencies = _series(bench, DETECT, victims, "acted", decided=True)
    bench.results["detect"] = percentiles(latencies)


def summary_ratio(measured: dict[str, Any], floor: dict[str, Any]) -> dict[str, float | None]:
    """Each latency percentile as a multiple of the floor's."""
    out: dict[str, float | None] = {}
    for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
        a, b = measured.get(key), floor.get(key)
        out[key] = round(a / b, 1) if isinstance(a, float | int) and isinstance(b, float | int) and b > 0 else None
    return out
