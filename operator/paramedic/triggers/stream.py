"""List-and-watch of pods, nodes and HPAs, outside Kopf, keeping only what the triggers need.

Why not Kopf's ``kopf.on.event``: Kopf keeps a memory record per watched
object, runs a worker task per object, diffs each body against its diffbase,
logs a "Handler succeeded" line per event, and holds every listed body behind
its index barrier at start-up. At 11,000 pods that was 415 MB of RSS, 13,725
log lines and 7 s before a pre-existing crash loop was looked at.

Here a daemon thread lists in pages of ``PAGE`` (one page in memory at a time),
then watches from the listing's resourceVersion with bookmarks, parses each
event and reads its symptoms on the spot (``tracking.Tracker``). Only changes
of failing objects reach the event loop. A 410 Gone (or any broken stream)
means listing again; the tracker reports what vanished meanwhile. The thread
is a daemon so that a blocked read never holds up the process's exit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes.watch.watch import iter_resp_lines

from paramedic.kube import ApiException, Clients

from . import symptoms
from .tracking import Change, Projector, Tracker

log = logging.getLogger(__name__)

PAGE = 500
#: Seconds a runbook waits for its stream's first listing before it is marked armed regardless.
SYNC_SECONDS = 60.0
#: Seconds a watch request lasts before it is renewed from the last resourceVersion.
WATCH_SECONDS = 60


class Gone(Exception):
    """The resourceVersion is too old: list again."""


def pod_key(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return f"Pod/{meta.get('namespace')}/{meta['name']}"


def project_pod(obj: Mapping[str, Any]) -> tuple[str, list[symptoms.Symptom]]:
    return pod_key(obj), symptoms.pod_symptoms(obj)


def project_node(obj: Mapping[str, Any]) -> tuple[str, list[symptoms.Symptom]]:
    return f"Node//{obj['metadata']['name']}", symptoms.node_symptoms(obj)


def hpa_projector() -> Projector:
    """HPA symptoms need a first-seen time when no condition says since when: kept for failing HPAs only."""
    first_seen: dict[str, datetime] = {}

    def project(obj: Mapping[str, Any]) -> tuple[str, list[symptoms.Symptom]]:
        meta = obj["metadata"]
        key = f"HorizontalPodAutoscaler/{meta.get('namespace')}/{meta['name']}"
        found = symptoms.hpa_symptoms(obj, first_seen.setdefault(key, datetime.now(UTC)))
        if not found:
            first_seen.pop(key, None)
        return key, found

    return project


class Stream:
    """One resource kind, listed and watched by a daemon thread; changes go to ``deliver`` on the loop."""

    def __init__(
        self,
        kind: str,
        list_fn: Callable[..., Any],
        project: Projector,
        deliver: Callable[[Change], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.kind, self.list_fn, self.deliver, self.loop = kind, list_fn, deliver, loop
        self.tracker = Tracker(project)
        self.stopped = threading.Event()
        #: Set (on the loop, after the listing's changes) once the first listing has been delivered.
        self.listed = asyncio.Event()
        self.thread = threading.Thread(target=self._run, name=f"watch-{kind}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def _post(self, change: Change) -> None:
        self.loop.call_soon_threadsafe(self.deliver, change)

    def _run(self) -> None:
        failures = 0
        while not self.stopped.is_set():
            try:
                version = self._list()
                failures = 0
                self._watch(version)
            except Gone:
                log.info("%s watch expired; listing again", self.kind)
            except Exception as exc:  # the API server restarting, a dropped connection...
                failures += 1
                delay = min(0.5 * 2.0**failures, 5.0)  # an API server restart should not blind us for long
                log.warning("%s watch failed (%s); listing again in %.0fs", self.kind, exc, delay)
                self.stopped.wait(delay)

    def _pages(self) -> Iterator[tuple[list[dict[str, Any]], str]]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": PAGE, "_preload_content": False, "_request_timeout": 60}
            if token:
                kwargs["_continue"] = token
            try:
                page = json.loads(self.list_fn(**kwargs).data)
            except ApiException as exc:
                if exc.status == 410:
                    raise Gone from exc
                raise
            meta = page.get("metadata") or {}
            yield page.get("items") or [], str(meta.get("resourceVersion", ""))
            token = meta.get("continue")
            if not token:
                return

    def _list(self) -> str:
        versions: list[str] = []

        def objects() -> Iterator[dict[str, Any]]:
            for items, version in self._pages():
                versions.append(version)
                yield from items

        for change in self.tracker.listing(objects()):
            self._post(change)
        self.loop.call_soon_threadsafe(self.listed.set)
        return versions[0] if versions else ""

    def _watch(self, version: str) -> None:
        while not self.stopped.is_set():
            response = self.list_fn(
                watch=True,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=WATCH_SECONDS,
                _preload_content=False,
                _request_timeout=(10, WATCH_SECONDS + 30),
            )
            try:
                for line in iter_resp_lines(response):
                    if self.stopped.is_set():
                        return
                    if not line:
                        continue
                    event = json.loads(line)
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            raise Gone
                        raise RuntimeError(obj.get("message", "watch error"))
                    version = (obj.get("metadata") or {}).get("resourceVersion") or version
                    if kind == "BOOKMARK":
                        continue
                    change = self.tracker.event(kind, obj)
                    if change is not None:
                        self._post(change)
            finally:
                response.release_conn()


def streams_for(clients: Clients) -> dict[str, tuple[Callable[..., Any], Callable[[], Projector]]]:
    """Per trigger family: the list function and a fresh projector."""
    return {
        "pods": (clients.core.list_pod_for_all_namespaces, lambda: project_pod),
        "nodes": (clients.core.list_node, lambda: project_node),
        "horizontalpodautoscalers": (
            clients.autoscaling.list_horizontal_pod_autoscaler_for_all_namespaces,
            hpa_projector,
        ),
    }


#: Which stream each trigger kind needs.
STREAM_OF = {
    "podCrashLoop": "pods",
    "podOOMKilled": "pods",
    "podPending": "pods",
    "nodeNotReady": "nodes",
    "hpaAtMax": "horizontalpodautoscalers",
}


class Streams:
    """The streams started so far: one per resource kind, started when the first runbook needs it.

    A cluster without a nodeNotReady runbook never lists its 1,000 nodes; when
    such a runbook appears, the first listing finds the nodes already NotReady.
    """

    def __init__(self, clients: Clients, deliver: Callable[[Change], None]) -> None:
        self.sources = streams_for(clients)
        self.deliver = deliver
        self.running: dict[str, Stream] = {}

    def ensure(self, trigger: str) -> None:
        """Watch what ``trigger`` needs (called on the event loop)."""
        plural = STREAM_OF.get(trigger)
        if plural is None or plural in self.running:
            return
        list_fn, projector = self.sources[plural]
        stream = Stream(plural, list_fn, projector(), self.deliver, asyncio.get_running_loop())
        self.running[plural] = stream
        log.info("watching %s for %s runbooks", plural, trigger)
        stream.start()

    async def synced(self, trigger: str) -> None:
        """Return once what ``trigger`` watches has been listed: only then is a runbook armed, so that
        the failures that predate it are known and acted on as it is armed."""
        stream = self.running.get(STREAM_OF.get(trigger, ""))
        if stream is None or stream.listed.is_set():
            return
        try:
            await asyncio.wait_for(stream.listed.wait(), SYNC_SECONDS)
        except TimeoutError:
            log.warning("%s not listed after %.0fs; arming %s runbooks anyway", stream.kind, SYNC_SECONDS, trigger)

    def stop(self) -> None:
        for stream in self.running.values():
            stream.stop()
