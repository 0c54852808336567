"""PromQL ``for`` clocks: since when each series has been failing. Pure logic.

A series fires once it has been failing for the trigger's ``for``. The clock
used to live only in memory, so a restart or a failover started every
pending series again from zero: a condition that had held for 9 of 10
minutes waited 10 more. Prometheus solves the same problem for its alerts by
recording each alert's active-since time (the ``ALERTS_FOR_STATE`` series)
and restoring it at start-up. Here the clocks go to the runbook's status
(``status.pendingSeries``), and only on transitions: a series starts failing,
fires, or recovers. A series that keeps failing, or a runbook whose series
are all healthy, costs no write at all.

At most ``PENDING_SERIES_MAX`` clocks are durable per runbook, the earliest
first (those closest to firing); clocks beyond that still work, in memory
only. A series that recovered and failed again while no operator was running
is, like an alert within Prometheus' outage tolerance, taken to have failed
all along: nobody was looking.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from paramedic.api.runbook_status import PENDING_SERIES_MAX

#: Series names longer than this are recorded by their digest (a status entry has a bounded size).
SERIES_TEXT_MAX = 256


def series_key(labels: Mapping[str, str]) -> str:
    """A series by its labels, as it is recorded: sorted name=value pairs, or their digest when long."""
    text = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    if len(text) <= SERIES_TEXT_MAX:
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def stamp(moment: datetime) -> str:
    """RFC 3339 to the microsecond, so a restored clock is the very instant (and occurrence) it was."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


@dataclasses.dataclass(frozen=True)
class Clock:
    since: datetime
    fired_at: datetime | None = None


class Clocks:
    """The clocks of one runbook's series."""

    def __init__(self, limit: int = PENDING_SERIES_MAX) -> None:
        self.limit = limit
        self.clocks: dict[str, Clock] = {}

    @classmethod
    def restore(cls, records: Iterable[Mapping[str, Any]], limit: int = PENDING_SERIES_MAX) -> Clocks:
        """From ``status.pendingSeries``; an entry that does not parse is dropped (its series starts again)."""
        clocks = cls(limit)
        for record in records:
            since = _parse(record.get("since"))
            series = record.get("series")
            if since is None or not isinstance(series, str) or not series:
                continue
            clocks.clocks[series] = Clock(since, _parse(record.get("firedAt")) if record.get("firedAt") else None)
        return clocks

    def observe(self, failing: Iterable[str], now: datetime, hold: timedelta) -> list[tuple[str, datetime]]:
        """One evaluation: ``failing`` are the series failing now. Returns the series due (failing for
        ``hold`` or longer) with their start; a series not failing any more is forgotten (recovered)."""
        seen = set(failing)
        for series in [s for s in self.clocks if s not in seen]:
            del self.clocks[series]
        due = []
        for series in sorted(seen):
            clock = self.clocks.setdefault(series, Clock(now))
            if clock.since + hold <= now:
                if clock.fired_at is None:
                    self.clocks[series] = dataclasses.replace(clock, fired_at=now)
                due.append((series, clock.since))
        return due

    def records(self) -> list[dict[str, Any]]:
        """What the status keeps: the ``limit`` earliest clocks, in a stable order (equal state, equal list)."""
        kept = sorted(self.clocks.items(), key=lambda item: (item[1].since, item[0]))[: self.limit]
        return [
            {"series": series, "since": stamp(clock.since)}
            | ({"firedAt": stamp(clock.fired_at)} if clock.fired_at else {})
            for series, clock in kept
        ]
