"""Kubernetes Events on targets and Remediations, so ``kubectl describe``
shows what paramedic did and why. Posting an Event never fails an action."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any

from paramedic.kube import ApiException, Clients, now

log = logging.getLogger(__name__)

COMPONENT = "paramedic"
WINDOW = 600.0
"""Seconds within which a repeat of an Event increments the one posted (client-go's aggregation window)."""
CAPACITY = 4096
"""Recent Events remembered for aggregation (client-go's LRU size): memory stays bounded in a storm."""

Key = tuple[str, str, str, str, str, str, str]


@dataclasses.dataclass
class Seen:
    name: str
    count: int
    first: float


class Correlator:
    """Which posts repeat a recent Event: identical repeats (same object, type, reason and message) within
    ``window`` seconds of the first become a count on that Event, as client-go's EventCorrelator does, so a
    flapping target does not fill etcd with copies. Pure (the caller's clock), thread-safe, bounded (LRU)."""

    def __init__(self, window: float = WINDOW, capacity: int = CAPACITY) -> None:
        self.window = window
        self.capacity = capacity
        self._seen: OrderedDict[Key, Seen] = OrderedDict()
        self._lock = threading.Lock()

    def repeat(self, key: Key, at: float) -> Seen | None:
        """The Event to increment for this post (its count already raised), or None: post a new one."""
        with self._lock:
            seen = self._seen.get(key)
            if seen is None or at - seen.first > self.window:
                return None
            self._seen.move_to_end(key)
            seen.count += 1
            return dataclasses.replace(seen)

    def posted(self, key: Key, name: str, at: float) -> None:
        """Remember a newly posted Event, forgetting the least recently used beyond capacity."""
        with self._lock:
            self._seen[key] = Seen(name, 1, at)
            self._seen.move_to_end(key)
            while len(self._seen) > self.capacity:
                self._seen.popitem(last=False)


def key(namespace: str, involved: dict[str, Any], kind: str, reason: str, message: str) -> Key:
    return (
        namespace,
        str(involved.get("kind")),
        str(involved.get("name")),
        str(involved.get("uid") or ""),
        kind,
        reason,
        message,
    )


CORRELATOR = Correlator()


def post(
    clients: Clients,
    involved: dict[str, Any],
    reason: str,
    message: str,
    *,
    warning: bool = False,
    fallback_namespace: str = "default",
) -> None:
    """Record an Event about ``involved`` (apiVersion, kind, name, namespace, uid)."""
    namespace = involved.get("namespace") or fallback_namespace
    stamp = now()
    message = message[:1024]
    kind = "Warning" if warning else "Normal"
    which = key(namespace, involved, kind, reason, message)
    repeat = CORRELATOR.repeat(which, time.monotonic())
    if repeat is not None and _increment(clients, namespace, repeat, stamp):
        return
    name = f"{involved['name'][:200]}.{uuid.uuid4().hex[:12]}"
    body = {
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {k: v for k, v in involved.items() if v},
        "reason": reason,
        "message": message,
        "type": kind,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
    try:
        # The response is not built into a typed V1Event (a millisecond of CPU per Event, one per refusal
        # in a storm): drained, which returns the connection to the pool.
        clients.core.create_namespaced_event(namespace, body, _preload_content=False).drain_conn()
        CORRELATOR.posted(which, name, time.monotonic())
    except ApiException as exc:
        log.warning(
            "could not post event %s on %s/%s: %s", reason, involved.get("kind"), involved.get("name"), exc.reason
        )


def _increment(clients: Clients, namespace: str, repeat: Seen, stamp: str) -> bool:
    """One patch raising the count of the Event already posted; False when it is gone (expired): post anew."""
    patch = {"count": repeat.count, "lastTimestamp": stamp}
    try:
        clients.core.patch_namespaced_event(repeat.name, namespace, patch, _preload_content=False).drain_conn()
    except ApiException as exc:
        if exc.status != 404:
            log.warning("could not count a repeat of event %s: %s", repeat.name, exc.reason)
            return True  # the repeat is lost, not posted twice
        return False
    return True


def involved(obj: dict[str, Any], kind: str, api_version: str) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta["name"],
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
    }
