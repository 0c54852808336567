"""One driver task per open Remediation, fed by the operator's watch of Remediations.

Why not a Kopf daemon: Kopf puts its finalizer on every object that has a
daemon and takes it off when the daemon ends, two patches per Remediation (in
a storm, 2 of the 5 requests a refused Remediation cost), and its patch races
the driver's first status write. A task fed by ``kopf.on.event`` stores
nothing on the object. The task works from the latest body the watch
delivered; a DELETED event cancels it; a restarted operator re-creates the
tasks from Kopf's initial listing. A task that ended is not started again in
this process for the same object (a late event from before its final write
must not drive it again), as Kopf does for a daemon that exited.
"""

from __future__ import annotations

import asyncio
import copy
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from paramedic.api.remediation import TERMINAL_PHASES
from paramedic.kube import parse_time
from paramedic.records import metrics

log = logging.getLogger(__name__)

#: (namespace, name, latest) -> runs until the Remediation is final; ``latest()`` is None once it is deleted.
Drive = Callable[[str, str, Callable[[], dict[str, Any] | None]], Awaitable[None]]


class Drivers:
    def __init__(self, drive: Drive) -> None:
        self._drive = drive
        self._bodies: dict[str, dict[str, Any]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._ended: set[str] = set()

    def observe(self, event: str | None, body: Mapping[str, Any]) -> None:
        """A watch event (None: from the initial listing) about one Remediation."""
        meta = body["metadata"]
        uid = meta["uid"]
        if event == "DELETED":
            self._bodies.pop(uid, None)
            self._ended.discard(uid)
            task = self._tasks.pop(uid, None)
            if task is not None:
                task.cancel()
            return
        final = (body.get("status") or {}).get("phase") in TERMINAL_PHASES
        if final:
            self._ended.discard(uid)  # the watch is past every earlier version: no late event can follow
        if uid in self._tasks:
            self._bodies[uid] = copy.deepcopy(dict(body))
        elif not final and uid not in self._ended:
            self._bodies[uid] = copy.deepcopy(dict(body))
            self._tasks[uid] = asyncio.create_task(
                self._run(uid, meta["namespace"], meta["name"]), name=f"remediation {meta['namespace']}/{meta['name']}"
            )

    def latest(self, uid: str) -> dict[str, Any] | None:
        body = self._bodies.get(uid)
        return copy.deepcopy(body) if body is not None else None

    async def _run(self, uid: str, namespace: str, name: str) -> None:
        metrics.IN_FLIGHT.inc()
        metrics.RUNNING.start(uid, _created(self._bodies.get(uid)))
        try:
            await self._drive(namespace, name, lambda: self.latest(uid))
        finally:
            metrics.IN_FLIGHT.dec()
            metrics.RUNNING.end(uid)
            if self._tasks.get(uid) is asyncio.current_task():
                del self._tasks[uid]
                self._bodies.pop(uid, None)
                self._ended.add(uid)

    async def stop(self) -> None:
        """Cancel every driver (shutdown, or leadership lost)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def running(self) -> int:
        return len(self._tasks)


class Parked:
    """A standby's open Remediations: the latest body of each, driven by nobody until this replica leads."""

    def __init__(self) -> None:
        self._bodies: dict[str, dict[str, Any]] = {}

    def observe(self, event: str | None, body: Mapping[str, Any]) -> None:
        uid = body["metadata"]["uid"]
        if event == "DELETED" or (body.get("status") or {}).get("phase") in TERMINAL_PHASES:
            self._bodies.pop(uid, None)
        else:
            self._bodies[uid] = copy.deepcopy(dict(body))

    def discard(self, uid: str) -> None:
        self._bodies.pop(uid, None)

    def drain(self) -> list[dict[str, Any]]:
        bodies, self._bodies = list(self._bodies.values()), {}
        return bodies

    def __len__(self) -> int:
        return len(self._bodies)


class Passes:
    """How many passes of the engine may hold a thread of the shared pool at once, and in which order
    the others get one: a Remediation already under way (admitted, planned, mid-step) before one not
    yet looked at, and first come first served within each.

    Bounded, because 1,000 drivers once queued 1,000 passes on the pool, and the Lease renewals that
    share it waited behind them until the leader lost its Lease. Ordered, because in a storm the
    admitted few would otherwise wait for their next pass behind every newer Remediation's first one
    (the first action came after ~1,000 first passes instead of a few).
    """

    def __init__(self, slots: int) -> None:
        self.free = slots
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, under_way: bool) -> None:
        if self.free > 0 and not self._waiting:
            self.free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (0 if under_way else 1, next(self._order), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed the slot just as it was cancelled: pass it on
            raise

    def release(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)
                return
        self.free += 1


def _created(body: Mapping[str, Any] | None) -> float | None:
    """A Remediation's creationTimestamp as seconds since the epoch (None when absent)."""
    stamp = ((body or {}).get("metadata") or {}).get("creationTimestamp")
    return parse_time(stamp).timestamp() if stamp else None
