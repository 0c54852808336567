"""One benchmark run, phase after phase, on a fresh local control plane.

Order: control plane (audit log for the operator's users only) -> CRDs and the
workload, all pods Running -> outside watches -> the floor -> the operator,
started with a crash loop already in place (start-up) -> idle -> detect->act ->
storm -> the operator stopped, two replicas, failover storm. The operator is
measured from the outside only (API server, watches, /proc), so the same
harness measures any design of it.
"""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes.client import rest

from paramedic.kube import Clients

from .. import build
from ..cluster import DevCluster
from ..install import apply_crds, ensure_namespace
from . import audit, evidence, quiet, report, storms, workload
from .context import OPERATOR_NAMESPACE, OPERATOR_USER, REPLICA_USERS, Bench
from .presets import Preset


def machine() -> dict[str, Any]:
    """The machine the figures come from (and how busy it was when the run began)."""
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor())
    load = [round(x, 2) for x in os.getloadavg()]
    return {"cpus": os.cpu_count(), "cpu": cpu, "kernel": platform.release(), "load_at_start": load}


def run(
    preset: Preset, out: Path | None = None, keep: Path | None = None, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run every phase; returns the results (also written to ``out`` as JSON when given)."""
    results: dict[str, Any] = {
        "preset": preset.name,
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "workload": f"{preset.total_pods} pods / {preset.nodes} nodes / {max(4, preset.runbooks)} runbooks",
    }
    began = time.monotonic()
    cluster = DevCluster(
        nodes=preset.nodes,
        audit_policy=audit.policy([OPERATOR_USER, *REPLICA_USERS]),
        component_qps=preset.component_qps,
        disabled_controllers=["horizontalpodautoscaling"],
        progress=build.Progress(),
    )
    try:
        cluster.start()
        results["controlplane_s"] = round(cluster.startup_seconds, 1)
        _phases(cluster, preset, results, say)
    finally:
        if keep is not None:
            _keep_logs(cluster, keep)
        cluster.stop()
        results["total_s"] = round(time.monotonic() - began, 1)
        results["invariants"] = report.invariants(results)
        if out is not None:
            report.write(results, out)
    return results


def _phases(cluster: DevCluster, preset: Preset, results: dict[str, Any], say: Callable[[str], None]) -> None:
    api = cluster.api_client()
    clients = Clients(api)
    clients.api_client.configuration.connection_pool_maxsize = 32  # read when the client is built: built again
    clients.api_client.rest_client = rest.RESTClientObject(clients.api_client.configuration)
    bench = Bench(preset, cluster, clients, cluster.workdir / "logs", results=results)
    apply_crds(clients)
    ensure_namespace(clients, OPERATOR_NAMESPACE)
    evidence.logs_node(cluster, clients, preset.evidence)
    step = time.monotonic()
    workload.create(clients, preset)
    bench.workload = workload.wait_running(clients, preset, timeout=120 + preset.total_pods / 10)
    results["workload_ready_s"] = round(time.monotonic() - step, 1)
    say(f"bench: {preset.total_pods} pods Running in {results['workload_ready_s']} s")
    bench.watch()
    try:
        quiet.floor(bench)
        say(f"bench: floor done (p50 {results['floor']['p50_ms']} ms)")
        operator, rss = quiet.operator(bench)
        try:
            quiet.start(bench, operator, rss)
            say(f"bench: start-up done (armed in {results['startup']['armed_s']} s)")
            quiet.idle(bench, rss)
            say(f"bench: idle done ({results['idle']['writes']} writes)")
            quiet.detect(bench)
            results["detect_vs_floor"] = quiet.summary_ratio(results["detect"], results["floor"])
            say(f"bench: detect->act done (p50 {results['detect']['p50_ms']} ms)")
            storms.storm(bench, rss)
            say(f"bench: storm done ({results['storm']['actions']} actions)")
            evidence.phase(bench, rss)
            say(f"bench: evidence done ({results['evidence']['acted']} acted with evidence)")
        finally:
            operator.stop()
            rss.stop()
            results["rss"] = {"peak_mb": round(rss.peak() / 2**20, 1), "samples": len(rss.samples)}
        storms.failover(bench)
        say(f"bench: failover done ({results['failover']['actions']} actions)")
    finally:
        bench.close()
        api.close()


def _keep_logs(cluster: DevCluster, keep: Path) -> None:
    keep.mkdir(parents=True, exist_ok=True)
    logs = cluster.workdir / "logs"
    if logs.exists():
        for item in logs.iterdir():
            shutil.copy(item, keep / item.name)
