"""Measure the trigger side on a local control plane: RSS, start-up, log lines, a storm's writes.

    python hack/measure_triggers.py --pods 3000 --nodes 100 --storm 200 [--code DIR] [--json out.json]

Creates N bare pods bound to KWOK nodes (faster than Deployments: no controller-manager QPS limit), one pod
already crash-looping under a Runbook that is not armed yet, then starts the operator as its own process
(``--code DIR`` runs the paramedic package found in DIR instead of this checkout, to measure a baseline).
Measured: operator RSS (sampled every 0.2 s), process start -> runbook armed -> pre-existing crash loop's
Remediation (as seen by watches opened beforehand), then a storm of S crash loops under one runbook: time until
S Remediations exist, Runbook status writes, and the API server's request counts for paramedic.dev resources
(apiserver_request_total, so the operator's own requests; the script reads but never writes paramedic.dev
objects during the storm). Finally the operator's log: lines, and Kopf "succeeded" lines.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import watch

from paramedic.api.common import API_VERSION, GROUP, VERSION
from paramedic_dev import simulate
from paramedic_dev.cluster import DevCluster
from paramedic_dev.install import apply_crds, ensure_namespace
from paramedic.kube import Clients

REQUESTS = re.compile(r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$")


def paramedic_requests(clients: Clients) -> Counter[str]:
    """The API server's request counters for paramedic.dev resources, by resource/subresource verb."""
    response = clients.api_client.call_api(
        "/metrics", "GET", auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True
    )
    counts: Counter[str] = Counter()
    for line in response.data.decode().splitlines():
        match = REQUESTS.match(line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if labels.get("group") != GROUP:
            continue
        sub = f"/{labels['subresource']}" if labels.get("subresource") else ""
        counts[f"{labels['verb']} {labels['resource']}{sub}"] += int(float(match.group(2)))
    return counts


def pod(name: str, node: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": name.rsplit("-", 1)[0]}},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
    }


def runbook(name: str, app: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Runbook",
        "metadata": {"name": name},
        "spec": {
            "trigger": {"podCrashLoop": {"minRestarts": 1}},
            "target": {"selector": {"matchLabels": {"app": app}}},
            "requiresApproval": True,  # nothing acts: the trigger side alone is measured
            "approvers": {"groups": ["sre-approvers"]},
            "steps": [{"deletePod": {}}],
        },
    }


class Watcher(threading.Thread):
    """Local receive times of paramedic objects, from a watch opened before the operator starts."""

    def __init__(self, clients: Clients, plural: str) -> None:
        super().__init__(daemon=True)
        self.clients, self.plural = clients, plural
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.ready = threading.Event()

    def run(self) -> None:
        stream = watch.Watch().stream(
            self.clients.custom.list_cluster_custom_object, GROUP, VERSION, self.plural, timeout_seconds=3600
        )
        self.ready.set()
        try:
            for event in stream:
                self.events.append((time.monotonic(), event["type"], event["object"]))
        except Exception:  # the cluster stopping at the end
            return


def rss_mb(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=3000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--storm", type=int, default=200)
    parser.add_argument("--code", help="a directory holding the paramedic package to run (a baseline)")
    parser.add_argument("--json")
    parser.add_argument("--log", help="where the operator's log goes (kept)")
    args = parser.parse_args()
    result: dict[str, Any] = {"pods": args.pods, "nodes": args.nodes, "storm": args.storm}

    with DevCluster(nodes=args.nodes, disabled_controllers=["horizontalpodautoscaling"]) as cluster:
        clients = Clients(cluster.api_client())
        apply_crds(clients)
        for ns in ("paramedic-system", "load", "victims", "storm"):
            ensure_namespace(clients, ns)
        nodes = [f"kwok-node-{i}" for i in range(args.nodes)]
        core = clients.core
        wait_sa = time.monotonic()
        while not all(core.list_namespaced_service_account(ns).items for ns in ("load", "victims", "storm")):
            if time.monotonic() - wait_sa > 60:
                raise SystemExit("no default ServiceAccounts")
            time.sleep(0.2)
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda i: core.create_namespaced_pod("load", pod(f"load-{i}", nodes[i % len(nodes)])),
                    range(args.pods),
                )
            )
            list(
                pool.map(
                    lambda i: core.create_namespaced_pod("storm", pod(f"storm-{i}", nodes[i % len(nodes)])),
                    range(args.storm),
                )
            )
        core.create_namespaced_pod("victims", pod("victim-0", nodes[0]))
        print(f"created {args.pods + args.storm + 1} pods in {time.monotonic() - started:.1f}s", flush=True)
        # KWOK marks pods Running in its own time: crash the victim only after that, or KWOK undoes it.
        deadline = time.monotonic() + 300
        while core.read_namespaced_pod("victim-0", "victims").status.phase != "Running":
            if time.monotonic() > deadline:
                raise SystemExit("the victim pod never ran")
            time.sleep(0.5)
        simulate.make_crashloop(core, "victims", "victim-0", restarts=3)
        for ns, name, app in (("victims", "victim", "victim"), ("storm", "storm", "storm")):
            clients.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "runbooks", runbook(name, app))

        runbooks, remediations = Watcher(clients, "runbooks"), Watcher(clients, "remediations")
        for w in (runbooks, remediations):
            w.start()
            w.ready.wait()
        time.sleep(1)

        log = Path(args.log) if args.log else cluster.workdir / "logs" / "measure-operator.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        if args.code:
            env["PYTHONPATH"] = args.code
        argv = [sys.executable, "-m", "paramedic", "run", "--kubeconfig", str(cluster.kubeconfig)]
        t0 = time.monotonic()
        with log.open("w") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        samples: list[tuple[float, float]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append((time.monotonic() - t0, rss_mb(process.pid)))
                stop.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        def first(watcher: Watcher, test: Any, timeout: float = 120) -> float:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for at, kind, obj in list(watcher.events):
                    if test(kind, obj):
                        return at - t0
                time.sleep(0.05)
            raise SystemExit(f"timed out waiting on {watcher.plural}")

        armed = first(
            runbooks,
            lambda k, o: o["metadata"]["name"] == "victim" and (o.get("status") or {}).get("triggerKind"),
        )
        acted = first(remediations, lambda k, o: k == "ADDED" and o["metadata"]["namespace"] == "victims")
        result["startup"] = {"armed_s": round(armed, 2), "preexisting_acted_s": round(acted, 2)}
        result["startup"]["acted_after_armed_s"] = round(acted - armed, 2)
        print("start-up:", result["startup"], flush=True)
        time.sleep(max(0.0, 20 - (time.monotonic() - t0)))
        result["rss_after_startup_mb"] = round(rss_mb(process.pid), 1)
        result["rss_peak_startup_mb"] = round(max(r for _, r in samples), 1)

        # -- storm -------------------------------------------------------------------------
        before = paramedic_requests(clients)
        storm_writes_before = len(runbooks.events)
        s0 = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(lambda i: simulate.make_crashloop(core, "storm", f"storm-{i}", restarts=3), range(args.storm))
            )
        crashed = time.monotonic() - s0
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            made = [
                o for _, k, o in list(remediations.events) if k == "ADDED" and o["metadata"]["namespace"] == "storm"
            ]
            if len(made) >= args.storm:
                break
            time.sleep(0.05)
        all_made = time.monotonic() - s0

        def fire_count() -> int:
            rb = clients.custom.get_namespaced_custom_object(GROUP, VERSION, "storm", "runbooks", "storm")
            return int((rb.get("status") or {}).get("fireCount", 0))

        deadline = time.monotonic() + 30
        while fire_count() < len(made) and time.monotonic() < deadline:
            time.sleep(0.2)
        counted = time.monotonic() - s0
        time.sleep(2)
        after = paramedic_requests(clients)
        delta = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
        storm_rb = [o for _, k, o in runbooks.events[storm_writes_before:] if o["metadata"]["name"] == "storm"]
        counts = [(o.get("status") or {}).get("fireCount") for o in storm_rb]
        result["storm"] = {
            "crash_patches_s": round(crashed, 2),
            "all_remediations_s": round(all_made, 2),
            "fire_count_complete_s": round(counted, 2),
            "remediations": len(made),
            "runbook_status_writes": len(storm_rb),
            "final_fire_count": counts[-1] if counts else None,
            "fire_counts_written": counts,
            "paramedic_requests": dict(sorted(delta.items())),
            "paramedic_requests_per_remediation": round(sum(delta.values()) / max(len(made), 1), 2),
        }
        print("storm:", json.dumps(result["storm"]), flush=True)
        stop.set()
        sampler.join()
        result["rss_peak_mb"] = round(max(r for _, r in samples), 1)
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            result["exit"] = "still running 30 s after SIGTERM: killed"
            process.kill()
            process.wait(10)
        lines = log.read_text(errors="replace").splitlines()
        result["log"] = {
            "lines": len(lines),
            "succeeded_lines": sum("succeeded." in line for line in lines),
            "fired_lines": sum("fired:" in line for line in lines),
            "succeeded_by_handler": dict(
                Counter(m.group(1) for line in lines if (m := re.search(r"(\w+ '[^']+') succeeded", line)))
            ),
        }
        print(json.dumps(result, indent=2), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
