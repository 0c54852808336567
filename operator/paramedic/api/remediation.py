"""Remediation: one execution of a runbook against one target, and its record.

The status is the engine's whole state: the operator can be killed at any
instant and resumes from it. Before an action changes anything its plan is
written to ``status.steps[i]`` (phase Applying); after, the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints

from .common import Approvers, BoundedTime, Condition, Label, Model, Name, ObjectRef, Text, Time, Username
from .evidence import MAX_RECORDS, EvidenceRecord
from .fanout import MAX_TARGETS, TargetProgress
from .silence import SilenceStatus

Phase = Literal[
    "Pending",
    "AwaitingApproval",
    "Running",
    "Verifying",
    "Succeeded",
    "Failed",
    "Skipped",
    "DryRun",
    "RateLimited",
    "Escalated",
]
TERMINAL_PHASES = frozenset({"Succeeded", "Failed", "Skipped", "DryRun", "RateLimited", "Escalated"})

StepPhase = Literal["Applying", "Verifying", "Succeeded", "Failed", "DryRun", "Skipped"]


def _same(field: str) -> str:
    """A CEL transition rule: ``field`` keeps its value (or its absence) across updates."""
    return f"has(self.{field}) == has(oldSelf.{field}) && (!has(self.{field}) || self.{field} == oldSelf.{field})"


class RunbookRef(Model):
    kind: Literal["Runbook", "ClusterRunbook"] = Field(
        default="Runbook", description="Runbook (same namespace) or ClusterRunbook."
    )
    name: Name = Field(description="Name of the runbook.")


#: Evidence records a Remediation's status keeps.
EVIDENCE_RECORDS = 64

#: How much trigger evidence a Remediation keeps: alert labels are the sender's to choose.
EVIDENCE_ITEMS = 64
EVIDENCE_KEY = 317
EVIDENCE_VALUE = 1024


def bounded_evidence(evidence: Mapping[str, str]) -> dict[str, str]:
    """The evidence cut to what the schema admits: the first items by key, each key and value cut short."""
    kept = sorted(evidence.items())[:EVIDENCE_ITEMS]
    return {k[:EVIDENCE_KEY]: v[:EVIDENCE_VALUE] for k, v in kept}


class TriggerRecord(Model):
    """Which trigger created this Remediation, and the evidence it saw."""

    kind: Label = Field(description="The trigger kind, e.g. podCrashLoop or alertmanager.")
    evidence: dict[Annotated[str, StringConstraints(max_length=EVIDENCE_KEY)], Text] = Field(
        default_factory=dict,
        max_length=EVIDENCE_ITEMS,
        description="What the trigger saw: restart count, PromQL value, alert labels "
        f"(at most {EVIDENCE_ITEMS} items of {EVIDENCE_VALUE} characters).",
    )
    fired_at: BoundedTime | None = Field(default=None, description="When the trigger fired (RFC 3339).")


class RemediationSpec(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.runbookRef == oldSelf.runbookRef",
                    "message": "spec.runbookRef is immutable",
                    "fieldPath": ".runbookRef",
                },
                {
                    "rule": "self.target == oldSelf.target",
                    "message": "spec.target is immutable",
                    "fieldPath": ".target",
                },
                # Switching dry run off half-way would act without approval or rate limit.
                {
                    "rule": _same("dryRun"),
                    "message": "spec.dryRun is immutable: create a new Remediation to act for real",
                    "fieldPath": ".dryRun",
                },
                {
                    "rule": _same("trigger"),
                    "message": "spec.trigger is immutable: it records what created the Remediation",
                    "fieldPath": ".trigger",
                },
                {
                    "rule": _same("requestedBy"),
                    "message": "spec.requestedBy is immutable: it records who asked, whom approvals exclude",
                    "fieldPath": ".requestedBy",
                },
                {
                    "rule": "!self.approved || has(self.approvedBy)",
                    "message": "spec.approvedBy must name who approves when spec.approved is true",
                    "fieldPath": ".approvedBy",
                },
                {
                    "rule": "!self.resolved || has(self.resolvedBy)",
                    "message": "spec.resolvedBy must name who resolves when spec.resolved is true",
                    "fieldPath": ".resolvedBy",
                },
            ]
        }
    )

    runbook_ref: RunbookRef = Field(description="The runbook to run.")
    target: ObjectRef = Field(description="The object to act on.")
    reason: str = Field(default="", max_length=1024, description="Why this remediation was started, for humans.")
    dry_run: bool = Field(
        default=False, description="Plan and record every step, change nothing. Immutable after creation."
    )
    requested_by: Username | None = Field(
        default=None,
        description="Who asks for this Remediation: the creator's own username (the admission policy checks it), "
        "set by the operator for trigger-created ones. Immutable; this person cannot approve or resolve it.",
    )
    approved: bool = Field(
        default=False,
        description="Set to true, with approvedBy, to let a runbook that requires approval proceed. Only one of "
        "the approvers recorded in status.approval may; never at creation.",
    )
    approved_by: Username | None = Field(
        default=None, description="The approver's own username, set together with approved."
    )
    trigger: TriggerRecord | None = Field(
        default=None,
        description="Set by the operator when a trigger created this Remediation; nobody else may set it. Immutable.",
    )
    resolved: bool = Field(
        default=False,
        description="Set to true, with resolvedBy, once a human has resolved the incident: escalation stops and a "
        "resolution message is sent. Only one of the approvers recorded in status.approval may.",
    )
    resolved_by: Username | None = Field(
        default=None, description="The resolver's own username, set together with resolved."
    )


class ResolvedTarget(Model):
    api_version: str = Field(description="API version of the object acted on.")
    kind: str = Field(description="Kind of the object acted on.")
    name: str = Field(description="Name of the object acted on.")
    namespace: str | None = Field(default=None, description="Namespace of the object acted on.")


class StepRecord(Model):
    """What happened in one step."""

    index: int = Field(ge=0, description="Position of the step in the runbook.")
    name: str = Field(default="", description="The step's name, or its action.")
    action: str = Field(description="The action the step ran.")
    phase: StepPhase = Field(
        description="Where the step is: Applying, Verifying, Succeeded, Failed or DryRun; Skipped when its when "
        "condition did not hold (the message says the values it saw)."
    )
    started_at: Time = Field(description="When the plan was recorded (RFC 3339).")
    finished_at: Time | None = Field(default=None, description="When the step ended (RFC 3339).")
    deadline: Time | None = Field(default=None, description="When the current phase of the step times out.")
    attempts: int = Field(default=0, ge=0, description="How many times the action was applied.")
    leadership: str | None = Field(
        default=None,
        max_length=300,
        description=(
            "The leadership the step's intent was recorded under (holder identity#the Lease's leaseTransitions; "
            "the process identity without leader election). A replica that finds an unfinished step recorded "
            "under another leadership does not repeat a request it cannot tell was sent: it verifies instead."
        ),
    )
    target: ResolvedTarget | None = Field(
        default=None, description="The object this step acts on (the Remediation's target, or what it resolved to)."
    )
    plan: str = Field(default="", description="What the step planned to change.")
    changes: dict[str, Any] = Field(
        default_factory=dict,
        description="The exact change planned, then made (from/to values, evicted pods, Job name).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    message: str = Field(default="", description="The latest progress or outcome message.")
    reason: str = Field(default="", description="One CamelCase word for the outcome, e.g. OwnedByHPA.")
    verified_since: Time | None = Field(
        default=None, description="Since when the verification has held (for stableFor)."
    )
    # -- fan-out (issue #17) --
    targets: list[TargetProgress] = Field(
        default_factory=list,
        max_length=MAX_TARGETS,
        description="A fanned-out step's target set, resolved once when the step was planned (sorted), and where "
        "each target stands; written once per pass.",
    )


class Notification(Model):
    level: int = Field(ge=0, description="Index of the escalation level.")
    level_name: str = Field(default="", description="Name of the escalation level.")
    channel: str = Field(description="Name of the channel.")
    kind: str = Field(description="webhook, slack or pagerduty.")
    message: Literal["Trigger", "Repeat", "Resolve"] = Field(description="What was sent.")
    at: Time = Field(description="When it was sent (RFC 3339).")
    outcome: Literal["Sent", "Failed"] = Field(description="Whether the channel accepted it.")
    attempts: int = Field(default=1, ge=1, description="Tries, including retries with backoff.")
    error: str = Field(default="", description="The last error, when it failed.")


class Undelivered(Model):
    """A channel that has not accepted the latest message of its level."""

    level: int = Field(ge=0, description="Index of the escalation level.")
    channel: str = Field(description="Name of the channel.")
    message: Literal["Trigger", "Repeat"] = Field(default="Trigger", description="What it has not received.")


class EscalationStatus(Model):
    """Where the escalation to humans stands."""

    policy: str = Field(description="The EscalationPolicy, namespace/name.")
    reason: str = Field(description="Why it escalated: StepsExhausted, VerificationFailed, StormBreaker, ...")
    state: Literal["Active", "Resolved"] = Field(default="Active", description="Active until resolved.")
    started_at: Time = Field(description="When the incident started (RFC 3339).")
    level: int = Field(default=-1, ge=-1, description="The highest level notified so far (-1: none yet).")
    last_sent_at: Time | None = Field(default=None, description="When the current level was last notified.")
    resolved_at: Time | None = Field(default=None, description="When it was resolved.")
    notifications: list[Notification] = Field(default_factory=list, description="Every message sent, newest last.")
    undelivered: list[Undelivered] = Field(
        default_factory=list,
        description="Channels whose last message failed (after its retries): sent again at retryAt, sooner than "
        "repeatInterval, until they accept it or the incident is resolved.",
    )
    retry_at: Time | None = Field(default=None, description="When the undelivered channels are tried again.")
    retries: int = Field(default=0, ge=0, description="Rounds of retries of undelivered channels so far.")


class ApprovalRecord(Model):
    """Who asked, who may approve, and who approved and resolved: the admission policy reads the approvers here,
    in the status that only the operator can write."""

    requested_by: str = Field(default="", description="spec.requestedBy when the Remediation was accepted.")
    approvers: Approvers | None = Field(
        default=None, description="The runbook's approvers when the Remediation was accepted (none: only admins)."
    )
    approved_by: str | None = Field(default=None, description="Who approved it, once the operator honoured it.")
    approved_at: Time | None = Field(default=None, description="When the approval was honoured (RFC 3339).")
    resolved_by: str | None = Field(default=None, description="Who marked the incident resolved.")
    resolved_at: Time | None = Field(default=None, description="When the resolution was honoured (RFC 3339).")


class RemediationStatus(Model):
    phase: Phase = Field(default="Pending", description="Where the remediation is.")
    message: str = Field(default="", description="The latest human-readable summary.")
    current_step: int = Field(default=0, ge=0, description="Index of the step being run.")
    steps: list[StepRecord] = Field(default_factory=list, description="History of the steps, in order.")
    started_at: Time | None = Field(default=None, description="When the engine first picked it up.")
    finished_at: Time | None = Field(default=None, description="When it reached a final phase.")
    observed_generation: int | None = Field(default=None, description="The generation the status reflects.")
    runbook_generation: int | None = Field(
        default=None, description="The runbook's generation when this remediation started."
    )
    runbook_spec: dict[str, Any] | None = Field(
        default=None,
        description="The runbook's spec when this remediation started. Steps run from this copy, so editing the "
        "runbook never changes a remediation half-way.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    runbook_digest: str | None = Field(
        default=None,
        description="An HMAC of runbookSpec sealed by the operator at acceptance; a step runs only from a snapshot "
        "that still matches it.",
    )
    resolved_target: ResolvedTarget | None = Field(
        default=None, description="The workload the target resolved to (a Pod's Deployment, ...)."
    )
    target_summary: str = Field(default="", description="The target as kind/namespace/name, for printing.")
    conditions: list[Condition] = Field(default_factory=list, description="Accepted, Approved and Ready.")
    escalation: EscalationStatus | None = Field(default=None, description="Set once humans are being notified.")
    approval: ApprovalRecord | None = Field(
        default=None, description="Requester, approvers, approver and resolver, recorded at acceptance and after."
    )
    occurrences: int = Field(default=1, ge=1, description="How often its trigger fired while it was open.")
    last_triggered_at: Time | None = Field(default=None, description="When its trigger last fired.")
    last_trigger_fingerprint: str | None = Field(
        default=None, description="A hash of the trigger evidence last counted, so a restart does not count it again."
    )
    # evidence hook (issue 16)
    evidence: list[EvidenceRecord] = Field(
        default_factory=list,
        max_length=MAX_RECORDS,
        description="What the runbook's collectors found, one record per collector per gathering, newest last.",
    )

    silence: SilenceStatus | None = Field(
        default=None, description="The Alertmanager silence held while it acts (runbook spec.silence)."
    )
