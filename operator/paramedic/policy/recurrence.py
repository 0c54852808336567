"""Recurring freeze windows: a cron expression says when each occurrence starts, a duration how long it lasts.

The rule is the one a user reads in the field's description: the window holds at ``now`` when some start
``s`` (a time the cron expression fires, on the wall clock of the window's time zone) has ``s <= now <
s + duration``. Only the latest start at or before ``now`` needs checking: an earlier start ends no later.
``cronsim`` finds it by iterating backwards, with Debian cron's DST rules (a start in the skipped hour
happens at the first minute after it; a start in the repeated hour happens once, at its first occurrence).
The duration is elapsed time: across a DST change a 60h window lasts 60 hours.

Fail-safe: an expression the operator cannot evaluate counts as frozen (no automatic action, the
Remediation is Skipped and escalates, naming the window), never as silently unfrozen. An expression the
model rejects never gets here: the policy is marked Invalid and its Remediations fail (``gate``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from paramedic.api.common import parse_duration
from paramedic.api.policies import FreezeWindow


def latest_start(expression: str, zone: str, now: datetime) -> datetime | None:
    """The latest time at or before ``now`` that the expression fires in ``zone``; None when it has not fired
    in cronsim's horizon (50 years back). Raises CronSimError for an expression cronsim cannot read."""
    # Reverse iteration excludes its starting point: start one second later (cron times are whole minutes,
    # so the second of ``now`` decides, its microseconds do not).
    after = now.astimezone(ZoneInfo(zone)).replace(microsecond=0) + timedelta(seconds=1)
    try:
        start: datetime = next(CronSim(expression, after, reverse=True))
    except StopIteration:
        return None
    return start.astimezone(UTC)


def recurring(window: FreezeWindow, now: datetime) -> bool:
    """Whether a cron window holds at ``now`` (see the module's rule); True when it cannot be evaluated."""
    if not (window.cron and window.duration):
        return False
    try:
        start = latest_start(window.cron, window.time_zone or "UTC", now)
    except (CronSimError, ValueError, OverflowError):
        return True  # fail-safe: an unreadable schedule freezes rather than lets automation act
    return start is not None and start <= now < start + parse_duration(window.duration)
