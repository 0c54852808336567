"""A runbook's fire counters (status.fireCount, lastFiredAt), written coalesced. Pure bookkeeping.

A storm of 1,000 crash loops under one runbook used to make 1,000 status
patches of that runbook, at the API server's worst moment. Here a fire only
bumps a number in memory; a runbook's status is written at once when it was
not written for ``interval`` seconds (so a lone fire shows up immediately),
else at the end of that interval with everything counted meanwhile: at most
one write per runbook per interval, and none when nothing changed. The count
starts from the runbook's own status (seeded from the index), so a restart
writes nothing until the next fire.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class _Counter:
    #: What the runbook's status says (seeded or last written).
    written: int = 0
    #: What has been counted; more than ``written`` means a write is owed.
    counted: int = 0
    last_fired: str = ""
    #: Monotonic time of the last write (-inf: never written by this process).
    written_at: float = float("-inf")
    #: A write is on its way: no second one until it returns, so writes land in order, never backwards.
    in_flight: bool = False


@dataclasses.dataclass(frozen=True)
class Write:
    key: str
    fire_count: int
    last_fired_at: str


class FireCounters:
    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self._counters: dict[str, _Counter] = {}

    def seed(self, key: str, fire_count: int) -> None:
        """The runbook's status as the index shows it: never counts backwards."""
        counter = self._counters.setdefault(key, _Counter())
        counter.written = max(counter.written, fire_count)
        counter.counted = max(counter.counted, fire_count)

    def fired(self, key: str, at: str) -> None:
        counter = self._counters.setdefault(key, _Counter())
        counter.counted += 1
        counter.last_fired = at

    def claim(self, clock: float) -> list[Write]:
        """The writes owed now: runbooks with uncounted fires, not written in the last ``interval`` seconds.

        Claimed writes start the runbook's interval and are in flight until
        ``done``: a concurrent flush neither writes them twice nor overtakes
        them with a later count (measured: a queued write of 325 landing after
        one of 433). One that fails stays owed and is retried after the interval.
        """
        owed = []
        for key, c in self._counters.items():
            if c.counted > c.written and clock - c.written_at >= self.interval and not c.in_flight:
                c.written_at, c.in_flight = clock, True
                owed.append(Write(key, c.counted, c.last_fired))
        return owed

    def pending(self) -> list[Write]:
        """Every write owed, whatever the interval (at shutdown)."""
        return [Write(key, c.counted, c.last_fired) for key, c in self._counters.items() if c.counted > c.written]

    def done(self, write: Write, *, written: bool = True) -> None:
        """A claimed write returned; one that failed (``written=False``) stays owed."""
        counter = self._counters.get(write.key)
        if counter is not None:
            counter.in_flight = False
            if written:
                counter.written = max(counter.written, write.fire_count)

    def forget(self, key: str) -> None:
        self._counters.pop(key, None)
