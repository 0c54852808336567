"""The benchmark's cluster contents: Deployments whose pods KWOK runs, runbooks
for them, and the rate-limit policies of the measured runbooks.

Namespaces:
- ``bench-w<i>``: the background fleet (healthy pods, one runbook per Deployment
  up to the preset's runbook count: watched, never firing);
- ``bench-detect``: the detect->act victims (and one pod crash-looping before the
  operator starts), under a runbook whose budget never runs out;
- ``bench-storm`` and ``bench-failover``: one Deployment each that crashes at once,
  under a runbook with a budget of B actions;
- ``bench-evidence``: one Deployment on the node whose logs KWOK serves, that
  crashes at once under a runbook whose budget never runs out and which
  gathers logs, Events and a summary before it acts (``bench/evidence.py``);
- ``bench-floor``: the floor's victims; no runbook.

The storm's runbook gathers Events and a summary too (its pods' nodes serve no
logs), so that the storm's figures include what evidence costs the few it admits.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from paramedic.api.common import API_VERSION, GROUP, VERSION
from paramedic.kube import ApiException, Clients

from .. import objects
from .presets import Preset

APP = "bench.paramedic.dev/app"
DETECT, STORM, FAILOVER, FLOOR = "bench-detect", "bench-storm", "bench-failover", "bench-floor"
EVIDENCE = "bench-evidence"
#: The node whose kubelet endpoint is KWOK's own server: the API server reads its pods' logs from there.
LOGS_NODE = "bench-logs"
#: Collectors of the storm's runbook (and of the evidence phase's, with ``LOGS``).
EVENTS_AND_SUMMARY: list[dict[str, Any]] = [{"name": "podEvents", "events": {}}, {"name": "state", "summary": {}}]
LOGS: dict[str, Any] = {"name": "crashLog", "logs": {"previous": True, "tailLines": 200, "filter": "(?i)error"}}
BACKGROUND_PER_NAMESPACE = 500


def deployment(name: str, replicas: int, node: str | None = None) -> dict[str, Any]:
    """Pods that KWOK runs; pinned to ``node`` (tolerating its taints) when given."""
    body = objects.deployment(name, replicas, {APP: name}, "registry.invalid/bench:1")
    if node is not None:
        pod = body["spec"]["template"]["spec"]
        pod["nodeSelector"] = {"kubernetes.io/hostname": node}
        pod["tolerations"] = [{"operator": "Exists"}]
    return body


def policy(name: str, budget: int) -> dict[str, Any]:
    """``budget`` actions an hour per runbook; no cooldown, in-flight bound or storm breaker in the way."""
    spec = {
        "windows": [{"max": budget, "per": "1h", "scope": "Runbook"}],
        "cooldown": "0s",
        "maxInFlight": {"max": 100000, "scope": "Runbook"},
        "stormBreaker": {"enabled": False},
    }
    return {"apiVersion": API_VERSION, "kind": "RateLimitPolicy", "metadata": {"name": name}, "spec": spec}


def runbook(
    name: str, app: str, policy_name: str | None, min_restarts: int = 1, evidence: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "trigger": {"podCrashLoop": {"minRestarts": min_restarts}},
        "target": {"selector": {"matchLabels": {APP: app}}},
        "steps": [{"deletePod": {}}],
    }
    if evidence:
        spec["evidence"] = evidence
    if policy_name:
        spec["rateLimitPolicyRef"] = {"name": policy_name}
    return {"apiVersion": API_VERSION, "kind": "Runbook", "metadata": {"name": name}, "spec": spec}


def _namespace(clients: Clients, name: str) -> None:
    try:
        clients.core.create_namespace({"metadata": {"name": name, "labels": {"bench.paramedic.dev/run": "1"}}})
    except ApiException as exc:
        if exc.status != 409:
            raise


def _create(clients: Clients, namespace: str, plural: str, body: dict[str, Any]) -> None:
    clients.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)


def background(preset: Preset) -> list[tuple[str, str]]:
    """(namespace, Deployment name) of the background fleet."""
    count = max(1, preset.pods // preset.per_deployment)
    per_namespace = max(1, BACKGROUND_PER_NAMESPACE // preset.per_deployment)
    return [(f"bench-w{i // per_namespace}", f"app-{i}") for i in range(count)]


def create(clients: Clients, preset: Preset) -> None:
    """Everything the operator will find at start-up (it is created before the operator runs)."""
    fleet = background(preset)
    measured = {
        DETECT: ("victim", preset.victims + 1, 1_000_000),
        STORM: ("storm", preset.storm, preset.budget),
        FAILOVER: ("failover", preset.failover_storm, preset.failover_budget),
        FLOOR: ("floor", preset.victims, None),
        EVIDENCE: ("evidence", preset.evidence, 1_000_000),
    }
    collectors = {STORM: EVENTS_AND_SUMMARY, EVIDENCE: [LOGS, *EVENTS_AND_SUMMARY]}
    for namespace in sorted({ns for ns, _ in fleet} | set(measured)):
        _namespace(clients, namespace)
    _wait_service_accounts(clients, sorted({ns for ns, _ in fleet} | set(measured)))
    for namespace, (app, replicas, budget) in measured.items():
        node = LOGS_NODE if namespace == EVIDENCE else None
        clients.apps.create_namespaced_deployment(namespace, deployment(app, replicas, node))
        if budget is not None:
            _create(clients, namespace, "ratelimitpolicies", policy("bench", budget))
            _create(clients, namespace, "runbooks", runbook(app, app, "bench", evidence=collectors.get(namespace)))
    fillers = max(0, preset.runbooks - 4)  # the four measured runbooks count too

    def one(index: int) -> None:
        namespace, app = fleet[index]
        clients.apps.create_namespaced_deployment(namespace, deployment(app, preset.per_deployment))
        if index < fillers:
            _create(clients, namespace, "runbooks", runbook(f"rb-{app}", app, None, min_restarts=3))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(len(fleet))))
    for index in range(len(fleet), fillers):  # more runbooks than Deployments: the rest watch nothing
        namespace, app = fleet[index % len(fleet)]
        _create(clients, namespace, "runbooks", runbook(f"rb-extra-{index}", f"none-{index}", None))


def _wait_service_accounts(clients: Clients, namespaces: Iterable[str], timeout: float = 60) -> None:
    """Pods are refused until the service-account controller has made each namespace's ``default``."""
    deadline = time.monotonic() + timeout
    for namespace in namespaces:
        while not clients.core.list_namespaced_service_account(namespace).items:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no default ServiceAccount in {namespace}")
            time.sleep(0.1)


def running_pods(clients: Clients) -> dict[str, list[str]]:
    """Names of the Running pods of every bench namespace, by namespace (one raw LIST from the watch cache)."""
    raw = clients.core.list_pod_for_all_namespaces(
        label_selector=APP, field_selector="status.phase=Running", resource_version="0", _preload_content=False
    )
    found: dict[str, list[str]] = {}
    for pod in json.loads(raw.data).get("items") or []:
        meta = pod["metadata"]
        if not meta.get("deletionTimestamp"):
            found.setdefault(meta["namespace"], []).append(meta["name"])
    return {ns: sorted(names) for ns, names in found.items()}


def wait_running(clients: Clients, preset: Preset, timeout: float) -> dict[str, list[str]]:
    """Wait until every pod of the workload runs; returns them by namespace."""
    deadline = time.monotonic() + timeout
    want = preset.total_pods
    while True:
        found = running_pods(clients)
        have = sum(len(v) for v in found.values())
        if have >= want:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {have} of {want} pods Running after {timeout:.0f}s")
        time.sleep(max(1.0, want / 2000))  # a LIST of 10,000 pods is not free: look less often
