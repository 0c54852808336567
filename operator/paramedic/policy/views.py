"""What admission needs to know about Remediations and targets, kept in memory.

The storm breaker counts the recent automatic Remediations of a runbook, and
settling the ledger asks whether an admitted Remediation has finished. Both
used to be answered by LISTs and GETs on every admission: O(N) requests per
admission, O(N^2) per storm, at the API server's worst moment. Here they are
answered from a Kopf index of Remediations (fed by the watch the operator
keeps anyway; Kopf fills indexes before any handler or daemon runs) and from
a count of the runbook's targets cached for a few seconds (a storm does not
change how many pods a Deployment has).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from paramedic.api.common import ObjectRef
from paramedic.api.remediation import TERMINAL_PHASES
from paramedic.kube import Clients
from paramedic.kube.kinds import KINDS
from paramedic.kube.selectors import to_query

#: The kinds a storm breaker's population is counted over (what ``target.kinds`` may name).
_COUNTED = frozenset({"Pod", "Node", "Deployment", "StatefulSet", "DaemonSet", "HorizontalPodAutoscaler"})


@dataclasses.dataclass(frozen=True)
class Seen:
    """A Remediation as admission sees it."""

    remediation: str  # namespace/name
    created: str
    automatic: bool
    phase: str
    finished_at: str | None
    #: Kind/namespace/name of its runbook and target, and the target's namespace (for the in-flight bound).
    runbook: str = ""
    target: str = ""
    namespace: str = ""

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL_PHASES

    @property
    def running(self) -> bool:
        """It takes an in-flight place: running, or (automatic) admitted and awaiting approval, as its ledger
        counts it. A person's request awaiting approval changes nothing and takes none: tenants may create
        such requests, and counting them would let a tenant hold the cluster's places with requests nobody
        approves."""
        return self.phase == "Running" or (self.automatic and self.phase == "AwaitingApproval")


def runbook_key(kind: str, namespace: str, name: str) -> str:
    """Kind/namespace/name of a runbook as ledgers and candidates name it (no namespace for a ClusterRunbook)."""
    return f"{kind}/{namespace if kind == 'Runbook' else ''}/{name}"


def seen(body: Mapping[str, Any]) -> dict[str, Seen]:
    """The index function: a Remediation under its runbook's key."""
    meta, spec, status = body["metadata"], body.get("spec") or {}, body.get("status") or {}
    ref = spec.get("runbookRef") or {}
    runbook = runbook_key(ref.get("kind", "Runbook"), meta["namespace"], str(ref.get("name")))
    target = spec.get("target") or {}
    namespace = target.get("namespace") or (meta["namespace"] if target.get("kind") != "Node" else "")
    return {
        runbook: Seen(
            remediation=f"{meta['namespace']}/{meta['name']}",
            created=meta.get("creationTimestamp") or "",
            automatic=bool(spec.get("trigger")),
            phase=status.get("phase", "Pending"),
            finished_at=status.get("finishedAt"),
            runbook=runbook,
            target="/".join(str(part) for part in (target.get("kind"), namespace, target.get("name")) if part),
            namespace=namespace,
        )
    }


class Remediations:
    """Lookups over the index; unbound (no operator around it) it knows nothing and says so."""

    def __init__(self) -> None:
        self.index: Callable[[str], Iterable[Seen]] | None = None
        self.everything: Callable[[], Iterable[Seen]] = lambda: ()

    def bind(self, index: Mapping[str, Iterable[Seen]]) -> None:
        self.index = lambda key: list(index.get(key, ()))
        self.everything = lambda: [s for key in list(index) for s in list(index.get(key, ()))]

    def running(self) -> list[Seen]:
        """Every Remediation taking an in-flight place now, automatic or created by hand (O(N) per admission
        pass)."""
        return [s for s in self.everything() if s.running]

    @property
    def bound(self) -> bool:
        return self.index is not None

    def find(self, runbook: str, remediation: str) -> Seen | None:
        """None: not in the index (deleted, or the index is not bound)."""
        assert self.index is not None
        return next((s for s in self.index(runbook) if s.remediation == remediation), None)

    def failing(self, runbook: str, since: datetime) -> int:
        """Automatic Remediations of ``runbook`` created since ``since``."""
        return len(self.failing_names(runbook, since))

    def failing_names(self, runbook: str, since: datetime) -> set[str]:
        """The same, by name (namespace/name): the gate adds those its index has not seen yet."""
        assert self.index is not None
        floor = stamp(since)
        return {s.remediation for s in self.index(runbook) if s.automatic and s.created >= floor}


def stamp(moment: datetime) -> str:
    """A creationTimestamp's form: RFC 3339 in UTC to the second, so that as strings they sort as times do."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TargetCounts:
    """How many objects a runbook's selector takes in, listed at most every ``ttl`` seconds per scope
    (from the API server's watch cache: resourceVersion=0)."""

    def __init__(self, clients: Clients, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.clients, self.ttl, self.clock = clients, ttl, clock
        self._counts: dict[tuple[str, str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def count(self, target: ObjectRef, selector: dict[str, Any] | None) -> int:
        labels = to_query(selector) if selector else ""
        key = (target.kind, target.namespace or "", labels)
        with self._lock:
            cached = self._counts.get(key)
            if cached is not None and self.clock() - cached[0] < self.ttl:
                return cached[1]
        found = self._list(target, labels)
        with self._lock:
            self._counts[key] = (self.clock(), found)
        return found

    def _list(self, target: ObjectRef, labels: str) -> int:
        kind = KINDS[target.kind] if target.kind in _COUNTED else None
        if kind is None or (kind.namespaced and target.namespace is None):
            return 0
        return len(kind.list(self.clients, target.namespace, label_selector=labels, resource_version="0"))
