"""What the benchmark sees of the cluster, from the outside: watches opened before
each measurement, each in its own thread, recording when a change first showed.

A watch is read as raw JSON lines (no model deserialisation) so that the
observer adds as little delay as possible to what it times. Every time is
wall-clock (``time.time()``), like the API server's audit timestamps.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes.watch.watch import iter_resp_lines

from paramedic.api.remediation import TERMINAL_PHASES

#: A change to one object: (event type, object, when it arrived).
Handler = Callable[[str, Mapping[str, Any], float], None]
#: Lists or watches one resource: called with the client's keyword arguments.
Lister = Callable[..., Any]


class Stream(threading.Thread):
    """List, then watch from the list's resourceVersion, until stopped; every object goes to ``handler``."""

    def __init__(self, name: str, lister: Lister, handler: Handler, **selectors: str) -> None:
        super().__init__(name=f"bench-watch-{name}", daemon=True)
        self.lister, self.handler, self.selectors = lister, handler, selectors
        self.ready = threading.Event()
        self._halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                self._once()
        except BaseException as exc:  # surfaced by check(): a dead observer must not look like a slow operator
            self.error = exc
            self.ready.set()

    def _once(self) -> None:
        listed = json.loads(self.lister(_preload_content=False, **self.selectors).data)
        arrived = time.time()
        for item in listed.get("items") or []:
            self.handler("LISTED", item, arrived)
        version = listed["metadata"]["resourceVersion"]
        response = self.lister(
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=3600,
            _preload_content=False,
            **self.selectors,
        )
        self.ready.set()
        try:
            for line in iter_resp_lines(response):
                if self._halt.is_set():
                    return
                event = json.loads(line)
                kind, obj = event.get("type", ""), event.get("object") or {}
                if kind == "ERROR":
                    return  # e.g. 410 Gone: list again
                if kind != "BOOKMARK":
                    self.handler(kind, obj, time.time())
        finally:
            response.release_conn()

    def stop(self) -> None:
        self._halt.set()

    def check(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"{self.name} failed: {self.error!r}") from self.error


class Recorder:
    """First-seen times of conditions on objects, and a way to wait for them."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.first: dict[tuple[str, str, str], float] = {}

    def note(self, what: str, namespace: str, name: str, when: float) -> None:
        with self._lock:
            if (what, namespace, name) not in self.first:
                self.first[(what, namespace, name)] = when
                self._lock.notify_all()

    def when(self, what: str, namespace: str, name: str) -> float | None:
        with self._lock:
            return self.first.get((what, namespace, name))

    def times(self, what: str, namespace: str | None = None) -> list[float]:
        """When each object first showed ``what`` (in ``namespace``, or anywhere), in order."""
        with self._lock:
            return sorted(t for (w, ns, _), t in self.first.items() if w == what and namespace in (None, ns))

    def count(self, what: str, namespace: str | None = None) -> int:
        return len(self.times(what, namespace))

    def last(self, what: str) -> float | None:
        times = self.times(what)
        return times[-1] if times else None

    def wait(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        """Block until ``condition()`` (called under the lock) is truthy; its value is returned."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = condition()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
                self._lock.wait(min(left, 1.0))

    def wait_for(self, what: str, namespace: str, name: str, timeout: float) -> float:
        value: float = self.wait(lambda: self.first.get((what, namespace, name)), timeout, f"{what} {namespace}/{name}")
        return value


def _meta(obj: Mapping[str, Any]) -> tuple[str, str, Mapping[str, Any]]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or "", meta


class PodEvents(Recorder):
    """``acted``: the pod was deleted (deletionTimestamp set, or gone); ``floor``: the floor's annotation."""

    FLOOR_ANNOTATION = "bench.paramedic.dev/floor-acted"

    def __call__(self, kind: str, obj: Mapping[str, Any], when: float) -> None:
        namespace, name, meta = _meta(obj)
        if kind == "LISTED":
            return  # only changes after the watch opened count
        if kind == "DELETED" or meta.get("deletionTimestamp"):
            self.note("acted", namespace, name, when)
        if self.FLOOR_ANNOTATION in (meta.get("annotations") or {}):
            self.note("floor", namespace, name, when)


class RunbookEvents(Recorder):
    """``armed``: the runbook's status says the operator watches its trigger for this generation."""

    def __call__(self, kind: str, obj: Mapping[str, Any], when: float) -> None:
        namespace, name, meta = _meta(obj)
        status = obj.get("status") or {}
        if status.get("triggerKind") and status.get("observedGeneration") == meta.get("generation"):
            self.note("armed", namespace, name, when)
        self.note("exists", namespace, name, when)


class RemediationEvents(Recorder):
    """``created`` and ``decided`` (a terminal phase) per Remediation, the last phase seen, and its
    ``status.evidence`` as last seen: its size as JSON and (collector, outcome, after) per record."""

    def __init__(self) -> None:
        super().__init__()
        self.phases: dict[tuple[str, str], str] = {}
        self.reasons: dict[tuple[str, str], str] = {}
        self.evidence: dict[tuple[str, str], tuple[int, list[tuple[str, str, int | None]]]] = {}

    def __call__(self, kind: str, obj: Mapping[str, Any], when: float) -> None:
        namespace, name, _ = _meta(obj)
        status = obj.get("status") or {}
        phase = str(status.get("phase") or "Pending")
        with self._lock:
            self.phases[(namespace, name)] = phase
            ready: Mapping[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
            self.reasons[(namespace, name)] = str(ready.get("reason") or "")
            records = status.get("evidence") or []
            if records:
                size = len(json.dumps(records, separators=(",", ":")).encode())
                found = [(str(r.get("name")), str(r.get("outcome")), r.get("after")) for r in records]
                self.evidence[(namespace, name)] = (size, found)
        self.note("created", namespace, name, when)
        if phase in TERMINAL_PHASES:
            self.note("decided", namespace, name, when)

    def tally(self, namespace: str) -> dict[str, int]:
        with self._lock:
            counts: dict[str, int] = {}
            for (ns, _), phase in self.phases.items():
                if ns == namespace:
                    counts[phase] = counts.get(phase, 0) + 1
            return counts

    def refused(self, namespace: str) -> set[str]:
        """Names of the decided Remediations of ``namespace`` that did not act."""
        with self._lock:
            return {n for (ns, n), phase in self.phases.items() if ns == namespace and phase != "Succeeded"}

    def acted(self, namespace: str) -> list[str]:
        """Names of the Remediations of ``namespace`` that succeeded."""
        with self._lock:
            return sorted(n for (ns, n), phase in self.phases.items() if ns == namespace and phase == "Succeeded")

    def evidence_of(self, namespace: str, name: str) -> tuple[int, list[tuple[str, str, int | None]]]:
        """(bytes of ``status.evidence`` as JSON, its records) as last seen; (0, []) when it has none."""
        with self._lock:
            return self.evidence.get((namespace, name), (0, []))

    def refusal_reasons(self, namespace: str) -> dict[str, int]:
        with self._lock:
            counts: dict[str, int] = {}
            for key, phase in self.phases.items():
                if key[0] == namespace and phase != "Succeeded":
                    reason = self.reasons.get(key) or "(none)"
                    counts[reason] = counts.get(reason, 0) + 1
            return counts
