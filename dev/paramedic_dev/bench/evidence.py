"""The evidence phase: E pods crash at once under a runbook whose budget never runs out and
which gathers their logs, Events and a summary before it deletes each pod. Issue #16 asks that
1,000 Remediations with evidence keep the operator's memory within the benchmark's budget; the
storm cannot show that (it admits only B, and only admitted Remediations gather), so this phase
makes every Remediation act.

Logs are real text: the pods run on one node whose kubelet endpoint is KWOK's own server, which
serves the files of ``cluster.pod_logs_dir`` as every pod's logs (``paramedic_dev.podlogs``).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from paramedic.kube import Clients

from .. import objects
from ..cluster import DevCluster
from ..processes import wait_for
from . import audit
from .context import Bench, crash_all
from .procstats import RssSampler
from .quiet import settle
from .storms import _actions, _decided
from .workload import EVENTS_AND_SUMMARY, EVIDENCE, LOGS, LOGS_NODE, STORM

#: Log lines every pod serves: the crashed run (``previous``) ends in errors, some with a secret to redact.
PREVIOUS = [f"GET /orders/{i} 200 3ms" for i in range(150)] + [
    "ERROR database connection refused password=hunter2",
    "ERROR giving up after 5 attempts",
    "panic: no database",
]


def _cri(lines: list[str]) -> str:
    """Lines in the CRI log format that KWOK serves."""
    return "".join(f"2026-11-25T10:00:{i % 60:02d}.000000000Z stdout F {line}\n" for i, line in enumerate(lines))


def logs_node(cluster: DevCluster, clients: Clients, pods: int) -> None:
    """Create the node whose pods' logs KWOK serves (room for ``pods`` and their replacements) and the logs."""
    (cluster.pod_logs_dir / "previous.log").write_text(_cri(PREVIOUS))
    (cluster.pod_logs_dir / "current.log").write_text(_cri(["starting", "listening on :8080"]))
    clients.core.create_node(objects.fake_node(LOGS_NODE, pods=str(max(250, pods * 3))))
    status = {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": "localhost"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": cluster.kwok_port}},
    }

    def served() -> bool:  # KWOK writes the node's status too: patch until both hold
        clients.core.patch_node_status(LOGS_NODE, {"status": status})
        node = clients.core.read_node(LOGS_NODE)
        ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
        return bool(ready and node.status.daemon_endpoints.kubelet_endpoint.port == cluster.kwok_port)

    wait_for(served, 60, f"node {LOGS_NODE} Ready with KWOK as its kubelet endpoint", every=0.5)


def missing(bench: Bench, namespace: str, collectors: list[str]) -> list[str]:
    """Acted Remediations of ``namespace`` without a record of each collector before the first step.

    Any outcome counts: that the operator never acts without gathering holds whatever the machine, but
    whether a collector finishes within its timeout does not (a shared machine's API server can take
    longer than 10 s to list Events); how many were ``Collected`` is reported beside it."""
    lacking = []
    for name in bench.remediations.acted(namespace):
        _, records = bench.remediations.evidence_of(namespace, name)
        before = {n for n, _, after in records if after is None}
        if not set(collectors) <= before:
            lacking.append(name)
    return lacking


def _per(count: float, n: int) -> float:
    return round(count / n, 2) if n else 0.0


def phase(bench: Bench, rss: RssSampler) -> None:
    """E crash loops at once, every one acted on after its evidence is gathered."""
    pods = bench.workload[EVIDENCE]
    n = len(pods)
    settle(bench)
    began = time.time()
    rss_before = rss.at(began)
    returned = crash_all(bench.clients.core, EVIDENCE, pods)
    origin = min(returned)
    last = _decided(bench, EVIDENCE, n, bench.preset.evidence_timeout)
    actions = _actions(bench, EVIDENCE)
    settle(bench)
    ended = time.time()
    requests = bench.requests(began, ended)
    acted = bench.remediations.acted(EVIDENCE)
    sizes = [bench.remediations.evidence_of(EVIDENCE, name)[0] for name in acted]
    outcomes: Counter[str] = Counter()
    for name in acted:
        outcomes.update(f"{c} {o}" for c, o, _ in bench.remediations.evidence_of(EVIDENCE, name)[1])
    kinds = Counter(r.key for r in requests)
    bench.results["evidence"] = {
        "pods": n,
        "collectors": [c["name"] for c in [LOGS, *EVENTS_AND_SUMMARY]],
        "actions": len(actions),
        "acted": len(acted),
        "phases": bench.remediations.tally(EVIDENCE),
        "all_decided_s": round(last - origin, 3),
        "crash_burst_s": round(max(returned) - origin, 3),
        "missing": len(missing(bench, EVIDENCE, [c["name"] for c in [LOGS, *EVENTS_AND_SUMMARY]])),
        "record_outcomes": dict(sorted(outcomes.items())),
        "collected_all": sum(
            1
            for name in acted
            if all(
                o == "Collected" for _, o, after in bench.remediations.evidence_of(EVIDENCE, name)[1] if after is None
            )
        ),
        "status_evidence_bytes_mean": round(sum(sizes) / len(sizes)) if sizes else 0,
        "status_evidence_bytes_max": max(sizes, default=0),
        "requests_per_remediation": _per(len(requests), n),
        "writes_per_remediation": _per(sum(r.write for r in requests), n),
        "per_remediation_by_kind": {k: _per(v, n) for k, v in kinds.most_common(20)},
        "requests": audit.summary(requests, top=20),
        "rss_before_mb": round(rss_before / 2**20, 1),
        "rss_peak_mb": round(rss.peak_between(began, ended) / 2**20, 1),
        "operator_cpu_s": rss.cpu(began, last),
    }
    storm = bench.results["storm"]
    storm["acted_remediations"] = len(bench.remediations.acted(STORM))
    storm["evidence_missing"] = len(missing(bench, STORM, [c["name"] for c in EVENTS_AND_SUMMARY]))


def invariant(results: dict[str, Any]) -> dict[str, Any] | None:
    """Evidence gathered for every acted Remediation (the storm's and the evidence phase's), and every
    one of the evidence phase's acted."""
    storm, phase_ = results.get("storm") or {}, results.get("evidence")
    if not phase_ or "evidence_missing" not in storm:
        return None
    lacking = storm["evidence_missing"] + phase_["missing"]
    acted = storm["acted_remediations"] + phase_["acted"]
    return {
        "ok": lacking == 0 and phase_["acted"] == phase_["pods"],
        "measured": f"{acted - lacking} of {acted} acted with evidence ({phase_['acted']} of {phase_['pods']})",
        "expected": f"all ({phase_['pods']} of {phase_['pods']})",
    }
