"""Driver tasks per open Remediation, fed by watch events (engine.driver): asyncio, no cluster."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from paramedic.engine.driver import Drivers, Passes


def body(uid: str, version: str, phase: str = "") -> dict[str, Any]:
    return {
        "metadata": {"uid": uid, "name": f"rem-{uid}", "namespace": "ns", "resourceVersion": version},
        "status": {"phase": phase} if phase else {},
    }


class Recorder:
    """A drive function that records what it saw and ends when told to."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any] | None] = []
        self.started = 0
        self.finish = asyncio.Event()

    async def __call__(self, namespace: str, name: str, latest: Callable[[], dict[str, Any] | None]) -> None:
        self.started += 1
        self.seen.append(latest())
        await self.finish.wait()
        self.seen.append(latest())


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_one_task_per_open_remediation_working_from_the_latest_body() -> None:
    async def scenario() -> None:
        drive = Recorder()
        drivers = Drivers(drive)
        drivers.observe(None, body("a", "1"))
        drivers.observe(None, body("done", "1", "Succeeded"))  # final already: nothing to drive
        await settle()
        drivers.observe("MODIFIED", body("a", "2", "Running"))
        await settle()
        assert (drive.started, drivers.running) == (1, 1)
        drive.finish.set()
        await settle()
        assert [b["metadata"]["resourceVersion"] for b in drive.seen if b] == ["1", "2"]
        assert drivers.running == 0
        drivers.observe("MODIFIED", body("a", "2", "Running"))  # a late event after the driver ended
        await settle()
        assert drive.started == 1
        drivers.observe("MODIFIED", body("a", "3", "Succeeded"))  # the final version: nothing to remember
        assert drivers._ended == set()

    asyncio.run(scenario())


def test_deletion_cancels_the_driver() -> None:
    async def scenario() -> None:
        drive = Recorder()
        drivers = Drivers(drive)
        drivers.observe(None, body("a", "1"))
        await settle()
        drivers.observe("DELETED", body("a", "2"))
        await settle()
        assert drivers.running == 0
        assert drivers.latest("a") is None
        drivers.observe(None, body("b", "1"))
        await settle()
        await drivers.stop()
        assert drivers.running == 0

    asyncio.run(scenario())


def test_passes_go_to_remediations_under_way_first_then_in_order() -> None:
    """A storm's admitted few get their next pass before the newer Remediations' first ones."""

    async def scenario() -> None:
        passes = Passes(1)
        order: list[str] = []

        async def one(name: str, under_way: bool) -> None:
            await passes.acquire(under_way)
            order.append(name)
            await asyncio.sleep(0)
            passes.release()

        await passes.acquire(False)  # the one slot is taken
        tasks = [asyncio.create_task(one(name, name.startswith("u"))) for name in ("new-1", "u-1", "new-2", "u-2")]
        await settle()
        assert order == []  # all of them wait while the slot is held
        passes.release()
        await asyncio.gather(*tasks)
        assert order == ["u-1", "u-2", "new-1", "new-2"]
        assert passes.free == 1

    asyncio.run(scenario())


def test_a_cancelled_waiter_does_not_keep_a_slot() -> None:
    async def scenario() -> None:
        passes = Passes(1)
        await passes.acquire(False)
        waiter = asyncio.create_task(passes.acquire(True))
        await settle()
        passes.release()  # handed to the waiter...
        waiter.cancel()  # ...which is cancelled before it runs: the slot is passed on, not lost
        await asyncio.gather(waiter, return_exceptions=True)
        assert passes.free == 1
        await asyncio.wait_for(passes.acquire(False), 1)

    asyncio.run(scenario())
