"""The engine's reconcile as a decision: pure functions, no I/O, unit-tested without a cluster.

A pass of the engine is, as in controller-runtime, "reconcile computes, the
driver writes". ``route`` says what a Remediation needs next from its
recorded status alone (accept it, wait for approval, plan, apply or verify
a step, or record what follows a finished step). The driver (engine.py)
performs that one piece of I/O (reading the runbook and the target,
planning, applying or verifying through the action) and hands what it
observed to the matching decision here, which returns a ``Transition``: the
new status (written once, conditional on the version read), the Events to
emit after it, an escalation cause to look up, and when to pass again.

The clock is an argument: nothing here reads it, so every transition can
be replayed in a test with any time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from paramedic.actions import NODE_ACTIONS, REGISTRY
from paramedic.actions.base import Done, InProgress
from paramedic.api.common import parse_duration
from paramedic.api.policies import EscalationPolicySpec
from paramedic.api.remediation import (
    ApprovalRecord,
    EscalationStatus,
    RemediationSpec,
    RemediationStatus,
    ResolvedTarget,
    StepRecord,
)
from paramedic.api.runbook import RunbookSpec, Step, Verify
from paramedic.policy import approvals
from paramedic.policy.access import LoadedRunbook, Refused
from paramedic.policy.approvals import Verdict
from paramedic.policy.ratelimit import Decision
from paramedic.records.status import set_condition

from . import verifying, when
from .transitions import Pass, Transition

#: Poll interval while waiting for a person (approval).
APPROVAL_POLL = 2.0
#: Backoff after a transient API error.
TRANSIENT_RETRY = 3.0
#: The first look at a verification, right after the action.
FIRST_VERIFY = 0.5
#: Between later looks at a verification.
VERIFY_POLL = 1.0


# -- what a pass needs ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Accept:
    """Load the runbook, authorize, admit."""


@dataclasses.dataclass(frozen=True)
class AwaitApproval:
    """Judge spec.approved."""


@dataclasses.dataclass(frozen=True)
class PlanStep:
    step: Step
    index: int
    dry_run: bool


@dataclasses.dataclass(frozen=True)
class ApplyStep:
    step: Step
    record: StepRecord


@dataclasses.dataclass(frozen=True)
class VerifyStep:
    step: Step
    record: StepRecord


Move = Accept | AwaitApproval | PlanStep | ApplyStep | VerifyStep


def route(
    rem: Mapping[str, Any], spec: RemediationSpec, status: RemediationStatus, runbook: RunbookSpec | None, now: datetime
) -> Move | Transition:
    """What the next pass does. ``runbook`` (the snapshot recorded at acceptance) is needed once accepted."""
    if status.started_at is None:
        return Accept()
    if status.phase == "AwaitingApproval":
        return AwaitApproval()
    assert runbook is not None, "an accepted Remediation runs from its recorded runbook"
    index = status.current_step
    step = runbook.steps[index]
    record = status.steps[index] if index < len(status.steps) else None
    if record is None:
        dry_run = spec.dry_run or runbook.dry_run
        return when.skip(rem, status, runbook, step, index, now) or PlanStep(step, index, dry_run)
    if record.phase == "Applying":
        if record.deadline is not None and record.deadline <= now:
            p = Pass.of(status, rem)
            return p.step_failed(
                runbook, p.record(record), "Timeout", f"timed out after {step.timeout}: {record.message}", now
            )
        return ApplyStep(step, record)
    if record.phase == "Verifying":
        return VerifyStep(step, record)
    # A finished step whose successor was not recorded yet (killed in between).
    p = Pass.of(status, rem)
    return p.advance(runbook, p.record(record), now)


def check_of(step: Step, default: str | None) -> str | None:
    """The verification a step runs: its own, else the action's default; None for none."""
    check = step.verify.check if step.verify and step.verify.check else default
    if check in (None, "None"):
        return verifying.PROMQL if step.verify and step.verify.promql else None
    return check


def verify_timeout(step: Step) -> str:
    return step.verify.timeout if step.verify else Verify().timeout


def steps_refused(runbook: LoadedRunbook) -> Refused | None:
    """Why this runbook's steps may not run from it, if they may not: an action reserved to ClusterRunbooks
    in a Runbook, or a node action in a runbook whose target kinds leave out Node."""
    for step in runbook.spec.steps:
        if REGISTRY[step.action].cluster_only and not runbook.cluster_scoped:
            return Refused("ClusterRunbookRequired", f"{step.action} needs a ClusterRunbook")
        if step.action in NODE_ACTIONS and "Node" not in runbook.spec.target.kinds:
            return Refused(
                "TargetNotAccepted",
                f"{step.action} acts on nodes: {runbook.kind} {runbook.name} must name Node in target.kinds",
            )
    return None


def needs_admission(spec: RemediationSpec, runbook: LoadedRunbook, namespace: str, operator_namespace: str) -> bool:
    """Automatic remediations spend a rate-limit budget, and so does a tenant's one-off use of a shared
    ClusterRunbook (it acts with powers the tenant lacks); an admin's one-off fix does not."""
    dry_run = spec.dry_run or runbook.spec.dry_run
    shared = runbook.cluster_scoped and namespace != operator_namespace
    return (spec.trigger is not None or shared) and not dry_run


# -- the decisions ----------------------------------------------------------------------


def finish(
    rem: Mapping[str, Any], status: RemediationStatus, phase: str, reason: str, message: str, now: datetime
) -> Transition:
    """The Remediation ends in ``phase`` (a refusal, a failure, or the outcome of its steps)."""
    return Pass.of(status, rem).finish(phase, reason, message, now)


def accept(
    rem: Mapping[str, Any],
    spec: RemediationSpec,
    status: RemediationStatus,
    runbook: LoadedRunbook,
    target: str,
    digest: str,
    admission: Decision | None,
    now: datetime,
) -> Transition:
    """Record the runbook snapshot and the approvers, then refuse, wait for approval, or run.
    ``admission``: the rate-limit decision, when ``needs_admission``."""
    p = Pass.of(status, rem)
    s = p.status
    generation = rem["metadata"].get("generation")
    s.started_at = now
    s.runbook_generation = runbook.generation
    s.runbook_spec = runbook.spec.dump()
    s.runbook_digest = digest
    s.target_summary = target
    s.observed_generation = generation
    s.conditions = set_condition(
        s.conditions,
        "Accepted",
        True,
        "Accepted",
        f"{runbook.kind} {runbook.name} may act on {target}",
        generation,
        at=now,
    )
    s.approval = ApprovalRecord(requested_by=spec.requested_by or "", approvers=runbook.spec.approvers)
    if admission is not None and not admission.admitted:
        return p.finish(admission.phase, admission.reason, admission.message, now)
    if runbook.spec.requires_approval and not (spec.dry_run or runbook.spec.dry_run):
        # Even when created approved (only cluster admins may): awaiting() judges who approved.
        requester = s.approval.requested_by or "unknown"
        who = approvals.describe(runbook.spec.approvers)
        s.phase = "AwaitingApproval"
        s.message = f"requested by {requester}; waiting for approval (spec.approved, spec.approvedBy) by {who}"
        s.conditions = set_condition(
            s.conditions,
            "Approved",
            False,
            "AwaitingApproval",
            f"{runbook.kind} {runbook.name} requires approval by {who}: set spec.approved to true and "
            "spec.approvedBy to your username",
            generation,
            at=now,
        )
        p.emit("AwaitingApproval", s.message)
        return p.done(0.0 if spec.approved else APPROVAL_POLL)
    s.phase = "Running"
    s.message = f"running {len(runbook.spec.steps)} steps of {runbook.kind} {runbook.name}"
    return p.done(0.0)


def awaiting(
    rem: Mapping[str, Any], spec: RemediationSpec, status: RemediationStatus, verdict: Verdict | None, now: datetime
) -> Transition:
    """``verdict``: the judgement of spec.approvedBy, when spec.approved is set."""
    generation = rem["metadata"].get("generation")
    p = Pass.of(status, rem)
    s = p.status
    if verdict is not None and not verdict.honoured:
        # Said once (condition and Event) per distinct refusal; the approver can still correct it.
        current = next((c for c in s.conditions if c.type == "Approved"), None)
        if current is None or current.message != verdict.message:
            s.message = verdict.message
            s.conditions = set_condition(
                s.conditions, "Approved", False, verdict.reason, verdict.message, generation, at=now
            )
            p.emit(verdict.reason, verdict.message, warning=True)
            return p.done(APPROVAL_POLL)
    if verdict is None or not verdict.honoured:
        cause = "ApprovalTimeout" if status.escalation is None else None
        return Transition(None, APPROVAL_POLL, escalate=cause)
    s.approval = (s.approval or ApprovalRecord()).model_copy(
        update={"approved_by": spec.approved_by, "approved_at": now}
    )
    s.phase = "Running"
    s.message = verdict.message
    s.conditions = set_condition(s.conditions, "Approved", True, "Approved", verdict.message, generation, at=now)
    p.emit("Approved", f"{verdict.message}; running the steps")
    return p.done(0.0)


@dataclasses.dataclass(frozen=True)
class Failure:
    """An action (or the rules around it) refused or failed: the step fails for ``reason``."""

    reason: str
    message: str


@dataclasses.dataclass(frozen=True)
class Planned:
    summary: str
    changes: Mapping[str, Any]
    target: ResolvedTarget
    #: A dry run's note from the provider (what it would do), if any.
    provider: str | None = None
    #: A dry run the action refused after planning.
    failure: Failure | None = None


@dataclasses.dataclass(frozen=True)
class Transient:
    """The API failed in a way worth retrying (5xx, timeout, 409 on the target)."""

    message: str


def planned(
    rem: Mapping[str, Any],
    status: RemediationStatus,
    runbook: RunbookSpec,
    move: PlanStep,
    outcome: Planned | Failure,
    now: datetime,
    leadership: str | None = None,
) -> Transition:
    """Record a step's plan (its intent, before anything changes), or its dry run; the intent carries the
    leadership it is taken under (``paramedic.fencing``), so a later leader can tell it inherited the step."""
    p = Pass.of(status, rem)
    step, index = move.step, move.index
    record = StepRecord(
        index=index,
        name=step.record_name,
        action=step.action,
        phase="Applying",
        started_at=now,
        leadership=leadership,
    )
    if isinstance(outcome, Failure):
        return p.step_failed(runbook, record, outcome.reason, outcome.message, now)
    record.plan = outcome.summary
    record.changes = dict(outcome.changes)
    record.target = outcome.target
    p.status.resolved_target = record.target
    if outcome.failure is not None:
        return p.step_failed(runbook, record, outcome.failure.reason, outcome.failure.message, now)
    if move.dry_run:
        record.phase = "DryRun"
        record.finished_at = now
        record.message = f"dry run: would {outcome.summary}" + (f"; {outcome.provider}" if outcome.provider else "")
        p.status.steps = [*p.status.steps[:index], record]
        return p.advance(runbook, record, now)
    record.deadline = now + parse_duration(step.timeout)
    record.message = f"planned: {outcome.summary}"
    p.status.steps = [*p.status.steps[:index], record]
    p.status.phase = "Running"
    p.status.message = f"step {index + 1}/{len(runbook.steps)}: {outcome.summary}"
    return p.done(0.0)


def applied(
    rem: Mapping[str, Any],
    status: RemediationStatus,
    runbook: RunbookSpec,
    move: ApplyStep,
    outcome: Done | InProgress | Failure | Transient,
    default_check: str | None,
    now: datetime,
) -> Transition:
    """Record what applying the step did. ``default_check``: the action's verification when the step names none."""
    p = Pass.of(status, rem)
    record = p.record(move.record)
    if isinstance(outcome, Transient):
        record.message = f"transient error, retrying: {outcome.message}"
        return p.done(TRANSIENT_RETRY)
    record.attempts += 1
    if isinstance(outcome, Failure):
        return p.step_failed(runbook, record, outcome.reason, outcome.message, now)
    record.message = outcome.message
    record.changes = {**record.changes, **outcome.changes}
    if isinstance(outcome, InProgress):
        return p.done(outcome.retry_after)
    p.acted = record.index == 0
    p.emit("ActionApplied", f"step {record.index + 1} ({move.step.action}): {outcome.message}", on_target=True)
    if check_of(move.step, default_check) is None:
        return p.step_succeeded(runbook, record, now)
    record.phase = "Verifying"
    record.deadline = now + parse_duration(verify_timeout(move.step))
    p.status.phase = "Verifying"
    return p.done(FIRST_VERIFY)


def verified(
    rem: Mapping[str, Any],
    status: RemediationStatus,
    runbook: RunbookSpec,
    move: VerifyStep,
    check: str,
    ok: bool,
    detail: str,
    now: datetime,
) -> Transition:
    """Record one look at the step's verification (``check``): it holds (for stableFor), it failed in time,
    or not yet."""
    p = Pass.of(status, rem)
    record = p.record(move.record)
    step = move.step
    stable_for = parse_duration(step.verify.stable_for if step.verify else "0s")
    if ok:
        record.verified_since = record.verified_since or now
        if record.verified_since + stable_for <= now:
            record.message = f"verified ({check}): {detail}"
            return p.step_succeeded(runbook, record, now)
    else:
        record.verified_since = None
    if record.deadline is not None and record.deadline <= now:
        message = f"{check} did not hold within {verify_timeout(step)}: {detail}"
        return p.step_failed(runbook, record, "VerificationFailed", message, now)
    message = f"verifying {check}: {detail}"
    changed = message != record.message or record.verified_since != move.record.verified_since
    record.message = message
    # Nothing new to say: no write (zero writes while a verification simply waits).
    return p.done(VERIFY_POLL) if changed else Transition(None, VERIFY_POLL)


def escalation(
    status: RemediationStatus, cause: str, where: str, policy: EscalationPolicySpec, now: datetime
) -> EscalationStatus | None:
    """The escalation to start for ``cause`` under ``policy`` (``where``: its namespace/name), if any:
    only for causes the policy escalates on, and for an unanswered approval only after its timeout."""
    if status.escalation is not None or cause not in policy.escalate_on:
        return None
    if cause == "ApprovalTimeout" and (
        status.started_at is None or status.started_at + parse_duration(policy.approval_timeout) > now
    ):
        return None
    return EscalationStatus(policy=where, reason=cause, started_at=status.started_at or now)
