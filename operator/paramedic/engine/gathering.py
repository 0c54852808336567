"""When evidence is owed, and how a gathering is recorded. Pure, no I/O (the driver gathers).

Level-triggered from the recorded status, like every decision of the engine:

- before the first action: once the Remediation runs (accepted, admitted,
  approved) and before step 0 is planned, every collector of
  ``spec.evidence``, unless a gathering before the first step is recorded;
- after a step that lists collectors in ``collect``: once it has ended
  (after its verification settled, failed or not), before the next step is
  planned or the Remediation ends. ``transitions.Pass.advance`` holds the
  Remediation on that finished step while such a gathering is owed, and
  routes on once it is recorded.

A gathering recorded (``status.evidence`` has records with its ``after``) is
never repeated: an operator killed while gathering gathers again, one killed
after the write goes on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from paramedic.api.evidence import MAX_RECORDS, EvidenceRecord
from paramedic.api.remediation import RemediationStatus
from paramedic.api.runbook import RunbookSpec

from .transitions import Pass, Transition, collect_owed

#: Phases of a step that has ended.
ENDED = frozenset({"Succeeded", "Failed", "DryRun"})


@dataclasses.dataclass(frozen=True)
class Gather:
    """Gather these collectors; ``after``: the step just ended (None: before the first)."""

    names: tuple[str, ...]
    after: int | None


def _recorded(status: RemediationStatus, after: int | None) -> bool:
    return any(r.after == after for r in status.evidence)


def owed(runbook: RunbookSpec | None, status: RemediationStatus) -> Gather | None:
    """The gathering the recorded status calls for, if any."""
    if runbook is None or not runbook.evidence or status.phase not in ("Running", "Verifying"):
        return None
    index = status.current_step
    if index == 0 and not status.steps and not _recorded(status, None):
        return Gather(tuple(c.name for c in runbook.evidence), None)
    record = status.steps[index] if index < len(status.steps) else None
    if record is not None and record.phase in ENDED and collect_owed(runbook, status, index):
        return Gather(tuple(runbook.steps[index].collect), index)
    return None


def recorded(
    rem: Mapping[str, Any], status: RemediationStatus, move: Gather, records: list[EvidenceRecord], now: datetime
) -> Transition:
    """The gathering's records appended (newest last); the next pass plans the next step or ends."""
    p = Pass.of(status, rem)
    p.status.evidence = [*p.status.evidence, *records][-MAX_RECORDS:]
    when = "before the first step" if move.after is None else f"after step {move.after + 1}"
    said = ", ".join(f"{r.name} {r.outcome}" for r in records)
    p.status.message = f"evidence gathered {when}: {said}"[:2048]
    failed = any(r.outcome != "Collected" for r in records)
    p.emit("EvidenceGathered", p.status.message, warning=failed)
    return p.done(0.0)


def inline_bytes(status: RemediationStatus) -> int:
    """The excerpt bytes already kept in the status (the inline budget spent)."""
    return sum(len(r.excerpt.encode()) for r in status.evidence)
