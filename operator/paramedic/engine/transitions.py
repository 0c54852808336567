"""What follows a finished step: a pure decision, unit-tested without a cluster.

The engine's first slice of "reconcile as a decision": from the runbook's
mode, its number of steps and the step just finished (its record), either
the Remediation ends (phase, reason, message) or the next step starts. The
engine only records the outcome (one status write per pass).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from paramedic.api.remediation import StepRecord


@dataclasses.dataclass(frozen=True)
class Finish:
    phase: str
    reason: str
    message: str


@dataclasses.dataclass(frozen=True)
class Next:
    step: int
    message: str


def after_step(mode: str, steps: int, record: StepRecord, history: Sequence[StepRecord]) -> Finish | Next:
    """``history``: the records of every step so far (for a dry run's summary)."""
    last = record.index + 1 >= steps
    if record.phase == "DryRun":
        if last:
            planned = "; ".join(s.plan for s in history)
            return Finish("DryRun", "DryRun", f"dry run, nothing changed: {planned}")
    elif record.phase == "Succeeded":
        if mode == "UntilVerified" or last:
            return Finish(
                "Succeeded",
                "Succeeded",
                f"step {record.index + 1} ({record.action}) succeeded: {record.message}",
            )
    elif mode == "AllInOrder" or last:
        exhausted = " (steps exhausted)" if mode == "UntilVerified" else ""
        return Finish(
            "Failed",
            record.reason or "StepFailed",
            f"step {record.index + 1} ({record.action}) failed{exhausted}: {record.message}",
        )
    return Next(record.index + 1, f"step {record.index + 1} {record.phase.lower()}; next: step {record.index + 2}")
