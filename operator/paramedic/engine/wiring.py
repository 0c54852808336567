"""The engine's side of the composition root: Kopf's watch of Remediations feeds one driver per open
Remediation (``driver.Drivers``), and the indexes that admission and acceptance read from memory.

Why the driver is not a Kopf daemon (whose error handling and backoff would otherwise serve) is in
``driver``; the loop below is that daemon's body: each pass works from the latest body the watch
delivered, an API error backs off exponentially, and an engine bug is logged, never a tight loop.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import kopf

from paramedic.api.common import GROUP, VERSION
from paramedic.kube import ApiException
from paramedic.policy import views

from .driver import Drivers, Parked, Passes
from .engine import Engine

log = logging.getLogger(__name__)

#: Threads of the shared pool that Remediation passes never take (Lease renewals, notifications, reads).
RESERVED_WORKERS = 2


class Wiring:
    """What the composition root keeps of the engine's handlers: the drivers (stopped at shutdown)
    and ``take_over`` (called once this replica leads)."""

    def __init__(self, engine: Engine, pool: Executor, workers: int, acting: Callable[[], bool]) -> None:
        self.engine, self.pool, self.acting = engine, pool, acting
        self.drivers = Drivers(self._drive)
        self.parked = Parked()
        # Passes that may hold a thread of the shared pool at once (see driver.Passes): the rest of the
        # pool stays free for everyone else.
        self.passes = Passes(max(1, workers - RESERVED_WORKERS))

    def observe(self, event: str | None, body: kopf.Body | dict[str, Any]) -> None:
        if not self.acting():
            # A standby drives nothing: it keeps the latest body of each open Remediation for take-over.
            self.parked.observe(event, body)
            return
        self.parked.discard(body["metadata"]["uid"])  # this event is newer than what was parked
        self.drivers.observe(event, body)

    def handoff(self, body: dict[str, Any]) -> None:
        """A Remediation the triggers just created starts its driver from the create's response, not
        when the watch delivers it 10 to 20 ms later (that copy then feeds the same driver). Only once
        the first watch event has bound the indexes that admission reads (Kopf's barrier)."""
        if self.engine.gate.remediations.bound:
            self.observe(None, body)

    def take_over(self) -> None:
        """Leading now: drive at once the open Remediations this replica already holds (no new event)."""
        for body in self.parked.drain():
            self.drivers.observe(None, body)

    async def _drive(self, namespace: str, name: str, latest: Callable[[], dict[str, Any] | None]) -> None:
        """Each pass works from the latest body the watch delivered, or the response of our own last
        write when the watch has not caught up with it: no GET per pass."""
        loop = asyncio.get_running_loop()
        engine, failures = self.engine, 0
        under_way = False  # after its first pass, a Remediation goes before those not yet looked at
        while True:
            try:
                await self.passes.acquire(under_way)
                try:  # the latest body is taken once a thread is ours: it may change meanwhile
                    observed = latest()
                    if observed is None:
                        return  # deleted
                    current = engine.latest(observed)
                    if current is None:
                        current = await loop.run_in_executor(self.pool, engine.reread, observed)
                    delay = await loop.run_in_executor(self.pool, engine.reconcile, current)
                finally:
                    self.passes.release()
                    under_way = True
                failures = 0
            except ApiException as exc:
                if exc.status == 404:
                    return
                failures += 1
                delay = min(2.0**failures, 60.0)
                log.warning("remediation %s/%s: API error %s, retrying in %.0fs", namespace, name, exc.status, delay)
            except Exception:
                # An engine bug must not become a tight retry loop or kill the operator.
                failures += 1
                delay = min(2.0**failures, 60.0)
                log.exception("remediation %s/%s: unexpected error, retrying in %.0fs", namespace, name, delay)
            if delay is None:
                return
            if delay:
                await asyncio.sleep(delay)


def register(
    registry: kopf.OperatorRegistry, engine: Engine, pool: Executor, workers: int, acting: Callable[[], bool]
) -> Wiring:
    """Register the Remediation watch and the indexes the engine and admission read."""
    wiring = Wiring(engine, pool, workers, acting)

    @kopf.index(GROUP, VERSION, "remediations", registry=registry, id="admission_index")
    async def admission_index(body: Any, **_: Any) -> dict[str, views.Seen]:
        """Remediations by runbook, for the storm breaker and ledger settling (no LIST per admission).
        A coroutine, as the next one: Kopf runs a plain function on a thread, a hop per watch event."""
        return views.seen(body)

    @kopf.index(GROUP, VERSION, "runbooks", registry=registry, id="runbook_bodies")
    @kopf.index(GROUP, VERSION, "clusterrunbooks", registry=registry, id="clusterrunbook_bodies")
    async def runbook_bodies(name: str, namespace: str | None, body: Any, **_: Any) -> dict[str, dict[str, Any]]:
        """Runbooks as the watch delivers them, so accepting a Remediation reads none from the API."""
        meta = body["metadata"]
        return {
            f"{namespace or ''}/{name}": {
                "metadata": {"name": name, "generation": meta.get("generation", 1)},
                "spec": copy.deepcopy(dict(body.get("spec") or {})),
            }
        }

    @kopf.on.event(GROUP, VERSION, "remediations", registry=registry)
    async def remediation(type: str | None, body: kopf.Body, **kwargs: Any) -> None:
        """Start (or feed) the driver of a Remediation; see engine.driver for why this is not a daemon."""
        if not engine.gate.remediations.bound:
            engine.gate.remediations.bind(kwargs["admission_index"])
            namespaced, clustered = kwargs["runbook_bodies"], kwargs["clusterrunbook_bodies"]

            def known(kind: str, where: str, runbook: str) -> Any:
                index = namespaced if kind == "Runbook" else clustered
                return next(iter(index.get(f"{where}/{runbook}", ())), None)

            engine.runbooks = known
        wiring.observe(type, body)

    return wiring
