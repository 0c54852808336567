"""The collectors that read the API server: logs, Events and the state of the target's pods.

Each reads only the target's own namespace (a namespaced Runbook's target is
always in the runbook's namespace: ``policy.access`` decided that at
acceptance) and each call carries the collector's timeout, so a slow API
server cannot hold a thread past it. Every function returns ``Found``: the
key figures, by the names the evidence contract fixes, and the text.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import re2

from paramedic.api.evidence import LogsCollector
from paramedic.kube import ApiException, Clients
from paramedic.kube.kinds import KINDS, WORKLOADS
from paramedic.kube.selectors import to_query

from .redact import Redactor, clip, compile_pattern

#: Pods of a workload looked at, at most (the ones restarting most first).
MAX_PODS = 5
#: Events kept per gathering (the latest).
MAX_EVENTS = 50


class Unavailable(Exception):
    """The collector cannot gather (no pods, a bad filter); the message is safe for a status."""


@dataclasses.dataclass(frozen=True)
class Scope:
    """What a gathering looks at: the target, read with the operator's client, within ``deadline``."""

    clients: Clients
    kind: str
    name: str
    namespace: str | None
    redactor: Redactor
    #: Bytes of fuller text kept per collector.
    item_bytes: int
    #: time.monotonic() after which calls are not started.
    deadline: float = float("inf")

    def timeout(self) -> float:
        """Seconds left for one API call (at least one)."""
        return max(1.0, min(self.deadline - time.monotonic(), 60.0))


@dataclasses.dataclass(frozen=True)
class Found:
    values: dict[str, Any]
    text: str


def _json(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.data)
    return data


def target(scope: Scope) -> dict[str, Any]:
    return KINDS[scope.kind].read(scope.clients, scope.name, scope.namespace)


def pods(scope: Scope, obj: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The target's pods: itself, a workload's (by its selector), a Node's; those restarting most first."""
    core = scope.clients.core
    if scope.kind == "Pod":
        return [obj or target(scope)]
    if scope.kind == "Node":
        found = core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={scope.name}", _preload_content=False, _request_timeout=scope.timeout()
        )
    else:
        obj = obj or target(scope)
        spec = obj.get("spec") or {}
        if scope.kind == "HorizontalPodAutoscaler":
            ref = spec.get("scaleTargetRef") or {}
            if ref.get("kind") not in WORKLOADS:
                return []
            obj = KINDS[ref["kind"]].read(scope.clients, ref["name"], scope.namespace)
            spec = obj.get("spec") or {}
        selector = spec.get("selector") or {}
        if not selector:
            return []
        found = core.list_namespaced_pod(
            scope.namespace, label_selector=to_query(selector), _preload_content=False, _request_timeout=scope.timeout()
        )
    items = _json(found).get("items") or []
    items.sort(key=lambda p: -sum(c.get("restartCount", 0) for c in _statuses(p)))
    return items[:MAX_PODS]


def _statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return list((pod.get("status") or {}).get("containerStatuses") or [])


# -- logs ---------------------------------------------------------------------------------------


def filter_lines(pattern: str | None, lines: list[str]) -> tuple[list[str], int]:
    """The lines to keep and how many matched (0 without a filter). RE2: linear time, the tenant's
    pattern cannot backtrack; an invalid one is Unavailable."""
    if not pattern:
        return lines, 0
    try:
        regex = compile_pattern(pattern)
    except re2.error as exc:
        raise Unavailable(f"filter is not a valid RE2 expression: {exc}") from None
    kept = [line for line in lines if regex.search(line)]
    return kept, len(kept)


def shape_logs(params: LogsCollector, item_bytes: int, redactor: Redactor, texts: list[tuple[str, str]]) -> Found:
    """Pure: the logs read (``texts``: a header per pod and its text) redacted, filtered, counted and clipped
    to the lower of the collector's maxBytes and the operator's per-item cap (the latest lines kept)."""
    blocks, lines, matches = [], 0, 0
    for header, text in texts:
        body = redactor(text).splitlines()[-params.tail_lines :]
        kept, matched = filter_lines(params.filter, body)
        lines, matches = lines + len(body), matches + matched
        if len(texts) > 1:
            blocks.append(f"== {header}")
        blocks.extend(kept)
    text, truncated = clip("\n".join(blocks), min(params.max_bytes, item_bytes))
    return Found({"lines": lines, "matches": matches, "bytes": len(text.encode()), "truncated": truncated}, text)


def logs(scope: Scope, params: LogsCollector) -> Found:
    found = pods(scope)
    if not found:
        raise Unavailable(f"{scope.kind} {scope.name} has no pods")
    # Bounded at the source: the latest tailLines, at most four times the cap (redaction can only shrink).
    limit = min(params.max_bytes, scope.item_bytes) * 4
    texts, failures = [], []
    for pod in found[:3]:
        meta = pod["metadata"]
        containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
        container = params.container or (containers[0] if containers else None)
        try:
            response = scope.clients.core.read_namespaced_pod_log(
                meta["name"],
                meta["namespace"],
                container=container,
                previous=params.previous,
                tail_lines=params.tail_lines,
                limit_bytes=limit,
                _preload_content=False,
                _request_timeout=scope.timeout(),
            )
        except ApiException as exc:  # one pod without a previous run does not hide the others' logs
            failures.append(exc)
            continue
        texts.append((f"{meta['name']}/{container}", response.data.decode(errors="replace")))
    if not texts:
        raise failures[0]
    return shape_logs(params, scope.item_bytes, scope.redactor, texts)


# -- events -------------------------------------------------------------------------------------


def _event_line(event: dict[str, Any]) -> str:
    seen = (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("metadata") or {}).get("creationTimestamp", "")
    )
    obj = event.get("involvedObject") or {}
    return (
        f"{seen} {event.get('type', '')} {event.get('reason', '')} {obj.get('kind', '')}/{obj.get('name', '')} "
        f"x{event.get('count') or 1}: {event.get('message', '')}"
    )


def events(scope: Scope) -> Found:
    """The Events whose involved object is the target or one of its pods, newest last."""
    names = [(scope.kind, scope.name)]
    with contextlib.suppress(Exception):  # the target may be gone: its own Events still say why
        names += [("Pod", p["metadata"]["name"]) for p in pods(scope) if scope.kind != "Pod"]
    core, found = scope.clients.core, list[dict[str, Any]]()
    for kind, name in names:
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        if scope.namespace is None:
            result = core.list_event_for_all_namespaces(
                field_selector=selector, resource_version="0", _preload_content=False, _request_timeout=scope.timeout()
            )
        else:
            result = core.list_namespaced_event(  # resourceVersion 0: from the API server's cache, not etcd
                scope.namespace,
                field_selector=selector,
                resource_version="0",
                _preload_content=False,
                _request_timeout=scope.timeout(),
            )
        found += _json(result).get("items") or []
    found.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    found = found[-MAX_EVENTS:]
    warnings = sum(1 for e in found if e.get("type") == "Warning")
    latest = str(found[-1].get("reason", "")) if found else ""
    text, _ = clip(scope.redactor("\n".join(_event_line(e) for e in found)), scope.item_bytes)
    return Found({"count": len(found), "warnings": warnings, "latestReason": latest[:256]}, text)


# -- summary ------------------------------------------------------------------------------------


def _state(status: dict[str, Any]) -> str:
    for name, state in (status.get("state") or {}).items():
        detail = state.get("reason") or ""
        return f"{name}{' (' + detail + ')' if detail else ''}"
    return "unknown"


def summarize(target_obj: dict[str, Any] | None, pod_list: list[dict[str, Any]], node: dict[str, Any] | None) -> Found:
    """Pure: the figures and the describe-like text of the pods and their node."""
    lines: list[str] = []
    restarts, ready, last_code, last_reason, oom = 0, bool(pod_list), None, "", False
    if target_obj is not None and not pod_list:
        for c in (target_obj.get("status") or {}).get("conditions") or []:
            lines.append(f"condition {c.get('type')}={c.get('status')} {c.get('reason', '')}")
    for pod in pod_list:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        lines.append(f"Pod {meta['name']}: {status.get('phase', '')} on {spec.get('nodeName', '?')}")
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        lines.append("  conditions: " + ", ".join(f"{k}={v}" for k, v in conditions.items()))
        ready = ready and conditions.get("Ready") == "True"
        resources = {c["name"]: c.get("resources") or {} for c in spec.get("containers") or []}
        for cs in _statuses(pod):
            restarts += int(cs.get("restartCount", 0))
            term = (cs.get("lastState") or {}).get("terminated") or (cs.get("state") or {}).get("terminated")
            line = f"  container {cs['name']}: {_state(cs)}, restarts {cs.get('restartCount', 0)}"
            if term:
                last_code, last_reason = term.get("exitCode"), str(term.get("reason") or "")
                oom = oom or last_reason == "OOMKilled"
                line += f", last terminated {last_reason} (exit code {last_code})"
            res = resources.get(cs["name"]) or {}
            line += f", requests {res.get('requests') or {}}, limits {res.get('limits') or {}}"
            lines.append(line)
    values: dict[str, Any] = {"restarts": restarts, "ready": ready, "oomKilled": oom}
    if last_code is not None:
        values["lastExitCode"] = int(last_code)
    if last_reason:
        values["lastReason"] = last_reason[:256]
    if node is not None:
        status = node.get("status") or {}
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        values["nodeReady"] = conditions.get("Ready") == "True"
        lines.append(f"Node {node['metadata']['name']}: " + ", ".join(f"{k}={v}" for k, v in conditions.items()))
        lines.append(f"  allocatable {status.get('allocatable') or {}}")
    return Found(values, "\n".join(lines))


def summary(scope: Scope) -> Found:
    obj = target(scope)
    pod_list = pods(scope, obj) if scope.kind != "Node" else []
    node_name = (
        scope.name
        if scope.kind == "Node"
        else next(
            ((p.get("spec") or {}).get("nodeName") for p in pod_list if (p.get("spec") or {}).get("nodeName")), None
        )
    )
    node = None
    if node_name:
        node = obj if scope.kind == "Node" else KINDS["Node"].read(scope.clients, node_name)
    found = summarize(obj if scope.kind != "Node" else None, pod_list, node)
    text, _ = clip(scope.redactor(found.text), scope.item_bytes)
    return Found(found.values, text)


COLLECTORS: dict[str, Callable[..., Found]] = {"logs": logs, "events": events, "summary": summary}
