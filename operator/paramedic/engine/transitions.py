"""The vocabulary of the engine's decisions, and how a pass's outcome is composed. Pure, no I/O.

A ``Transition`` is what a pass decided: the status to write once, the
Events to post after it, when to pass again. ``Pass`` builds one from a copy
of the recorded status: a step that succeeded or failed, what follows it
(``after_step``: from the runbook's mode, its number of steps and the step
just finished, either the Remediation ends or the next step starts), and the
final phase with its conditions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from paramedic.api.remediation import RemediationStatus, StepRecord
from paramedic.api.runbook import ClusterRunbookSpec, RunbookSpec
from paramedic.escalation import evidence
from paramedic.escalation.causes import CONFIGURATION
from paramedic.escalation.causes import cause as escalation_cause
from paramedic.records.status import set_condition

#: Characters of the Evidence Event posted when a Remediation ends.
EVIDENCE_EVENT = 1000


@dataclasses.dataclass(frozen=True)
class Finish:
    phase: str
    reason: str
    message: str


@dataclasses.dataclass(frozen=True)
class Next:
    step: int
    message: str


def after_step(
    mode: str, steps: int, record: StepRecord, history: Sequence[StepRecord], dry_run: bool = False
) -> Finish | Next:
    """``history``: the records of every step so far (for a dry run's summary); ``dry_run``: the Remediation
    changes nothing (it ends DryRun even when its last step was skipped)."""
    last = record.index + 1 >= steps
    if record.phase == "Skipped":
        if last:
            return _after_last_skipped(mode, record, history, dry_run)
    elif record.phase == "DryRun":
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


def _after_last_skipped(mode: str, record: StepRecord, history: Sequence[StepRecord], dry_run: bool) -> Finish:
    """The last step's when did not hold (engine/when.py): a skipped step is neither a success nor a failure,
    so the Remediation ends as its other steps say. A dry run ends DryRun (whichever steps were skipped);
    AllInOrder got here only through steps that succeeded or were skipped: Succeeded; UntilVerified got here
    with no step verified: Failed."""
    skipped = f"step {record.index + 1} ({record.action}) skipped: {record.message}"
    if dry_run:
        planned = "; ".join(s.plan for s in history if s.phase == "DryRun") or "every step skipped"
        return Finish("DryRun", "DryRun", f"dry run, nothing changed: {planned}; {skipped}")
    if mode == "AllInOrder":
        return Finish("Succeeded", "Succeeded", f"every step ran or was skipped; {skipped}")
    return Finish("Failed", "StepsExhausted", f"no step verified (steps exhausted); {skipped}")


@dataclasses.dataclass(frozen=True)
class Emit:
    """An Event to post on the Remediation (and, ``on_target``, on the object acted on)."""

    reason: str
    message: str
    warning: bool = False
    on_target: bool = False


@dataclasses.dataclass(frozen=True)
class Transition:
    #: The status to write (one write per pass); None: nothing to record.
    status: RemediationStatus | None
    #: Seconds until the next pass; None: the Remediation is final.
    requeue: float | None
    events: tuple[Emit, ...] = ()
    #: An escalation cause: the driver reads the runbook's EscalationPolicy and ``escalation`` decides.
    escalate: str | None = None
    #: (phase, reason) when the Remediation reached a final phase (for metrics).
    ended: tuple[str, str] | None = None
    #: Step records that ended in this pass (for the action duration metric).
    steps_ended: tuple[StepRecord, ...] = ()
    #: The first step's action was applied in this pass (for the detect-to-act metric).
    acted: bool = False


def recorded_runbook(spec: Mapping[str, Any], status: RemediationStatus) -> RunbookSpec | None:
    """The runbook snapshot, read with its own kind's model (a ClusterRunbook's runJob is a full JobSpec)."""
    cluster = (spec.get("runbookRef") or {}).get("kind") == "ClusterRunbook"
    model = ClusterRunbookSpec if cluster else RunbookSpec
    try:
        return model.model_validate(status.runbook_spec or {})
    except ValidationError:
        return None


def collect_owed(runbook: RunbookSpec, status: RemediationStatus, index: int) -> bool:
    """Evidence hook (``engine.gathering``): step ``index`` lists collectors not yet gathered after it.
    A step Skipped by its ``when:`` owes nothing: it changed nothing to look at again (and the gathering
    only answers for an ended step, so owing here held the Remediation on it for ever)."""
    skipped = index < len(status.steps) and status.steps[index].phase == "Skipped"
    return bool(runbook.steps[index].collect) and not skipped and not any(e.after == index for e in status.evidence)


class Pass:
    """One pass's working state: a copy of the status and what to say about it."""

    def __init__(self, status: RemediationStatus, rem: Mapping[str, Any]) -> None:
        self.status = status
        self.rem = rem
        self.events: list[Emit] = []
        self.steps_ended: list[StepRecord] = []
        self.acted = False

    @classmethod
    def of(cls, status: RemediationStatus, rem: Mapping[str, Any]) -> Pass:
        return cls(status.model_copy(deep=True), rem)

    def record(self, record: StepRecord) -> StepRecord:
        """This pass's copy of a recorded step."""
        return self.status.steps[record.index]

    def emit(self, reason: str, message: str, *, warning: bool = False, on_target: bool = False) -> None:
        self.events.append(Emit(reason, message, warning, on_target))

    def done(
        self, requeue: float | None, *, escalate: str | None = None, ended: tuple[str, str] | None = None
    ) -> Transition:
        return Transition(
            self.status, requeue, tuple(self.events), escalate, ended, tuple(self.steps_ended), self.acted
        )

    def step_succeeded(self, runbook: RunbookSpec, record: StepRecord, now: datetime) -> Transition:
        record.phase = "Succeeded"
        record.finished_at = now
        record.deadline = None
        self.steps_ended.append(record)
        self.status.steps = [*self.status.steps[: record.index], record]
        return self.advance(runbook, record, now)

    def step_failed(
        self, runbook: RunbookSpec, record: StepRecord, reason: str, message: str, now: datetime
    ) -> Transition:
        record.phase = "Failed"
        record.finished_at = now
        record.deadline = None
        record.reason = reason
        record.message = message
        self.steps_ended.append(record)
        self.status.steps = [*self.status.steps[: record.index], record]
        self.emit(reason, f"step {record.index + 1} ({record.action}) failed: {message}", warning=True)
        return self.advance(runbook, record, now)

    def advance(self, runbook: RunbookSpec, record: StepRecord, now: datetime) -> Transition:
        """Record what follows a finished step (decided by after_step)."""
        if collect_owed(runbook, self.status, record.index):  # evidence hook: gather first (engine.gathering)
            self.status.current_step = record.index
            self.status.phase = "Running"
            self.status.message = f"step {record.index + 1} {record.phase.lower()}; gathering evidence"
            return self.done(0.0)
        spec = self.rem.get("spec") or {}
        dry_run = bool(spec.get("dryRun")) or runbook.dry_run
        outcome = after_step(runbook.mode, len(runbook.steps), record, self.status.steps, dry_run)
        if isinstance(outcome, Finish):
            return self.finish(outcome.phase, outcome.reason, outcome.message, now)
        self.status.current_step = outcome.step
        self.status.phase = "Running"
        self.status.message = outcome.message
        return self.done(0.0)

    def finish(self, phase: str, reason: str, message: str, now: datetime) -> Transition:
        s, rem = self.status, self.rem
        generation = (rem.get("metadata") or {}).get("generation")
        spec = rem.get("spec") or {}
        s.phase = phase  # type: ignore[assignment]
        s.message = message[:2048]
        s.finished_at = now
        s.started_at = s.started_at or now
        if not s.target_summary:
            target = spec.get("target") or {}
            ns = target.get("namespace") or (
                (rem.get("metadata") or {}).get("namespace") if target.get("kind") != "Node" else None
            )
            s.target_summary = "/".join(x for x in (target.get("kind"), ns, target.get("name")) if x)
        succeeded = phase in ("Succeeded", "DryRun")
        if reason in CONFIGURATION:
            s.conditions = set_condition(s.conditions, "Accepted", False, reason, message, generation, at=now)
        s.conditions = set_condition(s.conditions, "Ready", succeeded, reason, message, generation, at=now)
        cause = escalation_cause(phase, reason, recorded_runbook(spec, s)) if s.escalation is None else None
        self.emit(phase, message, warning=not succeeded)
        self._say_evidence()
        return self.done(None, escalate=cause, ended=(phase, reason))

    def _say_evidence(self) -> None:
        """The evidence found, as one Event when the Remediation ends, so that ``kubectl describe`` shows its
        key figures beside the outcome (the records themselves are in status.evidence)."""
        found = evidence.latest(self.status.model_dump(by_alias=True, mode="json", include={"evidence"}))
        if found:
            self.emit("Evidence", evidence.summary(found, EVIDENCE_EVENT))
