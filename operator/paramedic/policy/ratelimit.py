"""Rate-limit arithmetic: may this automatic Remediation act now? Pure logic.

The checks run in order of how much they say about the world: a freeze
window or a storm is a reason to call humans; a cooldown, the concurrency
bound or a spent window is a reason to wait.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from paramedic.api.common import parse_duration, rfc3339
from paramedic.api.policies import FreezeWindow, LedgerEntry, RateLimitPolicySpec

from .recurrence import recurring

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclasses.dataclass(frozen=True)
class Candidate:
    remediation: str  # namespace/name
    runbook: str  # Kind/namespace/name
    target: str  # Kind/namespace/name
    namespace: str  # the target's namespace, "" for nodes
    #: For the storm breaker: recent automatic Remediations of its runbook (itself included), and its scope's size.
    failing: int = 0
    targets: int = 0
    #: A fanned-out step's target set, (target, namespace) each: every one spends an entry (issue #17).
    also: tuple[tuple[str, str], ...] = ()

    def entries(self, stamp: datetime) -> list[LedgerEntry]:
        """What admitting it writes: one entry per target it acts on."""
        pairs = self.also or ((self.target, self.namespace),)
        return [
            LedgerEntry(remediation=self.remediation, runbook=self.runbook, target=t, namespace=n, admitted_at=stamp)
            for t, n in pairs
        ]


@dataclasses.dataclass(frozen=True)
class Decision:
    admitted: bool
    phase: str = "Running"  # RateLimited or Skipped when not admitted
    reason: str = "Admitted"
    message: str = ""
    #: Storms and freezes are for humans; the other refusals only wait.
    escalate: bool = False


ADMIT = Decision(True)


def frozen(windows: Sequence[FreezeWindow], now: datetime) -> FreezeWindow | None:
    for window in windows:
        if window.start and window.end:
            if window.start <= now < window.end:
                return window
        elif weekly(window, now) or recurring(window, now):  # each is False for a window of another form
            return window
    return None


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


def weekly(window: FreezeWindow, now: datetime) -> bool:
    """Whether a weekly window holds at ``now``: judged on the wall clock of its time zone, so 09:00-17:00
    stays 09:00-17:00 across a DST change. A window whose ``to`` is before its ``from`` starts on one of its
    days and ends on the next day."""
    if not (window.days and window.from_ and window.to):
        return False
    local = now.astimezone(ZoneInfo(window.time_zone or "UTC"))
    minute = local.hour * 60 + local.minute
    start, end = _minutes(window.from_), _minutes(window.to)
    today = _DAYS[local.weekday()] in window.days
    if start < end:
        return today and start <= minute < end
    yesterday = _DAYS[(local.weekday() - 1) % 7] in window.days
    return (today and minute >= start) or (yesterday and minute < end)


def _scope_key(scope: str, entry: LedgerEntry | Candidate) -> str:
    return {"Runbook": entry.runbook, "Target": entry.target, "Namespace": entry.namespace, "Cluster": ""}[scope]


def decide(
    spec: RateLimitPolicySpec,
    ledger: Sequence[LedgerEntry],
    candidate: Candidate,
    now: datetime,
    *,
    failing: int,
    targets: int,
    elsewhere: Sequence[LedgerEntry] = (),
) -> Decision:
    """``failing``: recent automatic Remediations of this runbook, this one included; ``targets``: its scope's size;
    ``elsewhere``: Remediations running now that this ledger does not hold (admitted by another policy, or
    created by hand), for the in-flight bound."""
    window = frozen(spec.freeze_windows, now)
    if window is not None:
        name = f" {window.name!r}" if window.name else ""
        return Decision(
            False, "Skipped", "FreezeWindow", f"freeze window{name} is active: no automatic actions", escalate=True
        )

    breaker = spec.storm_breaker
    if breaker.enabled:
        # A fan-out's other targets count toward the absolute bound as Remediations acting at once would; the
        # share stays failing Remediations over the scope (acting on an object is not that object failing).
        too_many = failing + len(candidate.also) > breaker.max_failing
        share = failing * 100 / targets if targets else 0.0
        too_large = targets >= breaker.min_targets and share > breaker.max_failing_percent
        if too_many or too_large:
            fanned = f" (with {len(candidate.also)} more targets of its set)" if candidate.also else ""
            return Decision(
                False,
                "Skipped",
                "StormBreaker",
                f"storm breaker: {failing} of {targets} targets of {candidate.runbook} failing at once{fanned} "
                f"({share:.0f}% > {breaker.max_failing_percent}% or > {breaker.max_failing}): not acting, escalating",
                escalate=True,
            )

    cooldown = parse_duration(spec.cooldown)
    asked = candidate.entries(now)  # one per target: a fan-out over N targets spends N
    for entry in ledger:
        for mine in asked:
            if entry.target == mine.target and entry.finished_at and entry.finished_at + cooldown > now:
                left = entry.finished_at + cooldown - now
                return Decision(
                    False,
                    "RateLimited",
                    "Cooldown",
                    f"{mine.target} was remediated at {rfc3339(entry.finished_at)}; cooldown {spec.cooldown} "
                    f"has {_human(left)} left",
                )

    if spec.max_in_flight is not None:
        bound = spec.max_in_flight
        for key in {_scope_key(bound.scope, mine) for mine in asked}:
            adding = sum(1 for mine in asked if _scope_key(bound.scope, mine) == key)
            running = [e for e in (*ledger, *elsewhere) if e.finished_at is None and _scope_key(bound.scope, e) == key]
            if len(running) + adding > bound.max:
                return Decision(
                    False,
                    "RateLimited",
                    "MaxInFlight",
                    f"{len(running)} remediations already running (maxInFlight {bound.max} per {bound.scope})"
                    + (f"; {adding} more targets asked" if adding > 1 else ""),
                )

    for limit in spec.windows:
        since = now - parse_duration(limit.per)
        for key in {_scope_key(limit.scope, mine) for mine in asked}:
            adding = sum(1 for mine in asked if _scope_key(limit.scope, mine) == key)
            spent = [e for e in ledger if e.admitted_at > since and _scope_key(limit.scope, e) == key]
            if len(spent) + adding > limit.max:
                return Decision(
                    False,
                    "RateLimited",
                    "RateLimitWindow",
                    f"{len(spent)} actions in the last {limit.per} per {limit.scope} (max {limit.max})"
                    + (f"; {adding} more targets asked" if adding > 1 else ""),
                )
    return ADMIT


def decide_batch(
    spec: RateLimitPolicySpec,
    ledger: Sequence[LedgerEntry],
    candidates: Sequence[Candidate],
    now: datetime,
    elsewhere: Sequence[LedgerEntry] = (),
) -> tuple[list[LedgerEntry], dict[str, Decision]]:
    """Decide every waiting candidate of one policy in one pass: (the ledger to write, decisions by Remediation).

    Candidates are taken in order, each against the ledger its predecessors
    left, so a batch spends exactly what one-by-one admissions would. A
    Remediation already in the ledger (admitted before a restart, or twice in
    one batch) is admitted again without spending: admission is idempotent.
    The ledger is only valid if it is written; a caller that fails to write it
    decides again later from what is persisted, which is what keeps admission
    exactly-once across restarts.

    ``elsewhere``: what else is running now (other policies' admissions, Remediations created by hand), counted
    by the in-flight bound; one this ledger holds is counted once.
    """
    written = list(ledger)
    spent = {e.remediation for e in written}
    acted = {(e.remediation, e.target) for e in written}
    asking = {c.remediation for c in candidates}
    others = [e for e in elsewhere if e.remediation not in spent and e.remediation not in asking]
    stamp = now.replace(microsecond=0)  # as the ledger is written (to the second)
    decisions: dict[str, Decision] = {}
    for candidate in candidates:
        if candidate.also:  # a fan-out: idempotent per (Remediation, target), so a restart spends nothing again
            fresh = tuple(p for p in candidate.also if (candidate.remediation, p[0]) not in acted)
            candidate = dataclasses.replace(candidate, also=fresh)
            if not fresh:
                decisions[candidate.remediation] = Decision(True, message="admitted before")
                continue
        elif candidate.remediation in spent:
            decisions[candidate.remediation] = Decision(True, message="admitted before")
            continue
        decision = decide(
            spec, written, candidate, now, failing=candidate.failing, targets=candidate.targets, elsewhere=others
        )
        decisions[candidate.remediation] = decision
        if decision.admitted:
            spent.add(candidate.remediation)
            for entry in candidate.entries(stamp):
                acted.add((entry.remediation, entry.target))
                written.append(entry)
    return written, decisions


def prune(
    spec: RateLimitPolicySpec, ledger: Sequence[LedgerEntry], now: datetime, keep: int = 1000
) -> list[LedgerEntry]:
    """Entries that can still matter: running, or within the longest window or the cooldown."""
    horizon = max([parse_duration(w.per) for w in spec.windows] + [parse_duration(spec.cooldown)] + [timedelta(0)])
    kept = [
        e
        for e in ledger
        if e.finished_at is None or e.admitted_at > now - horizon or e.finished_at > now - parse_duration(spec.cooldown)
    ]
    return kept[-keep:]


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
