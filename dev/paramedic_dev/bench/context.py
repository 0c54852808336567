"""What every phase of the benchmark shares: the cluster, clients, the outside watches and the audit log."""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from paramedic.api.common import GROUP, VERSION
from paramedic.kube import Clients

from .. import simulate
from ..cluster import DevCluster
from . import audit
from .presets import Preset
from .watches import PodEvents, RemediationEvents, RunbookEvents, Stream
from .workload import APP

#: The operator's users (one client certificate each), the only ones the audit policy logs.
OPERATOR_USER = "paramedic-bench-operator"
REPLICA_USERS = ("paramedic-bench-replica-0", "paramedic-bench-replica-1")
OPERATOR_NAMESPACE = "paramedic-system"


@dataclasses.dataclass
class Bench:
    preset: Preset
    cluster: DevCluster
    clients: Clients
    logs: Path
    pods: PodEvents = dataclasses.field(default_factory=PodEvents)
    runbooks: RunbookEvents = dataclasses.field(default_factory=RunbookEvents)
    remediations: RemediationEvents = dataclasses.field(default_factory=RemediationEvents)
    streams: list[Stream] = dataclasses.field(default_factory=list)
    #: The workload's Running pods by namespace, listed before the operator started.
    workload: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    results: dict[str, Any] = dataclasses.field(default_factory=dict)
    audit_log: audit.AuditLog | None = None

    def kubeconfig(self, user: str) -> Path:
        """A kubeconfig for one operator user: cluster admin, but told apart in the audit log."""
        return self.cluster.user_kubeconfig(user, user, "system:masters")

    def watch(self) -> None:
        """Open the outside watches (pods of the bench, runbooks, Remediations) and wait until they run."""
        core, custom = self.clients.core, self.clients.custom

        def runbooks(**kw: Any) -> Any:
            return custom.list_cluster_custom_object(GROUP, VERSION, "runbooks", **kw)

        def remediations(**kw: Any) -> Any:
            return custom.list_cluster_custom_object(GROUP, VERSION, "remediations", **kw)

        self.streams = [
            Stream("pods", core.list_pod_for_all_namespaces, self.pods, label_selector=APP),
            Stream("runbooks", runbooks, self.runbooks),
            Stream("remediations", remediations, self.remediations),
        ]
        for stream in self.streams:
            stream.start()
        for stream in self.streams:
            if not stream.ready.wait(60):
                raise TimeoutError(f"{stream.name} did not open")
            stream.check()

    def close(self) -> None:
        for stream in self.streams:
            stream.stop()

    def check(self) -> None:
        for stream in self.streams:
            stream.check()

    def requests(self, start: float, end: float, users: Sequence[str] = (OPERATOR_USER,)) -> list[audit.Request]:
        if self.audit_log is None:
            assert self.cluster.audit_log is not None, "the cluster was started without an audit policy"
            self.audit_log = audit.AuditLog(self.cluster.audit_log)
        return audit.window(self.audit_log.requests(), start, end, users)


class RawPods:
    """The two calls ``simulate`` makes, answered as plain dicts parsed from the JSON.

    The client's typed V1Pod round trip costs 4.5 ms of CPU per call: a burst of 1,000 crashes from
    16 threads (a read and a patch each) took 23 s at the full preset, most of it in this process, so
    the storm did not crash "at once". It also put the typed parsing of the patch's response between
    the patch's return and the time taken as its return."""

    def __init__(self, core: Any) -> None:
        self.core, self.api_client = core, core.api_client

    def read_namespaced_pod(self, name: str, namespace: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.core.read_namespaced_pod(name, namespace, _preload_content=False).data)
        return found

    def patch_namespaced_pod_status(self, name: str, namespace: str, body: Any) -> dict[str, Any]:
        response = self.core.patch_namespaced_pod_status(name, namespace, body, _preload_content=False)
        patched: dict[str, Any] = json.loads(response.data)
        return patched


def crash(core: Any, namespace: str, name: str) -> float:
    """Make the pod crash-loop (as its kubelet would report it); returns when the status patch returned."""
    simulate.make_crashloop(RawPods(core), namespace, name, restarts=4)
    return time.time()


def crash_all(core: Any, namespace: str, names: Sequence[str], workers: int = 16) -> list[float]:
    """Crash every pod at once (as fast as ``workers`` clients can patch); the return times of the patches."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda name: crash(core, namespace, name), names))


def percentiles(samples: Sequence[float]) -> dict[str, float | int | None]:
    """p50/p90/p99/max in milliseconds (nearest-rank), and the sample count."""
    if not samples:
        return {"n": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    ordered = sorted(samples)

    def rank(p: float) -> float:
        index = max(0, min(len(ordered) - 1, int(-(-p * len(ordered) // 100)) - 1))
        return round(ordered[index] * 1000, 1)

    return {
        "n": len(ordered),
        "p50_ms": rank(50),
        "p90_ms": rank(90),
        "p99_ms": rank(99),
        "max_ms": round(ordered[-1] * 1000, 1),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    began = time.time()
    return fn(), time.time() - began
