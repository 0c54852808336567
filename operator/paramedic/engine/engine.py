"""The remediation engine: a level-triggered state machine over a
Remediation's status.

``reconcile`` reads nothing but the Remediation (and the world through the
actions), makes at most one transition, writes it to status, and says when
to be called again. Because every decision is derived from the recorded
status, an operator killed at any instant resumes exactly where it was:

- a step whose plan is recorded but whose outcome is not is applied again,
  with the recorded plan (actions are idempotent for a given plan);
- a step whose outcome is recorded is never applied again.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from paramedic.actions import NODE_ACTIONS, REGISTRY
from paramedic.actions.base import ActionFailed, Context, Done, Plan, Target
from paramedic.api.common import API_VERSION, GROUP, VERSION, ObjectRef, parse_duration
from paramedic.api.policies import EscalationPolicySpec
from paramedic.api.remediation import (
    TERMINAL_PHASES,
    ApprovalRecord,
    EscalationStatus,
    RemediationSpec,
    RemediationStatus,
    ResolvedTarget,
    StepRecord,
)
from paramedic.api.runbook import ClusterRunbookSpec, RunbookSpec, Step, Verify
from paramedic.escalation.causes import CONFIGURATION
from paramedic.escalation.causes import cause as escalation_cause
from paramedic.kube import ApiException, Clients, now, parse_time
from paramedic.policy import access, approvals
from paramedic.policy.admission import AdmissionGuard
from paramedic.policy.gate import Gate
from paramedic.records import events, metrics
from paramedic.records import status as records

from . import freshness, snapshot, targets, transitions

log = logging.getLogger(__name__)

#: Poll interval while waiting for a person (approval).
APPROVAL_POLL = 2.0
#: Backoff after a transient API error.
TRANSIENT_RETRY = 3.0


@dataclasses.dataclass
class Engine:
    clients: Clients
    operator_namespace: str = "paramedic-system"

    def __post_init__(self) -> None:
        self.gate = Gate(self.clients, self.operator_namespace)
        self.guard = AdmissionGuard(self.clients)
        self.newest = freshness.Newest()
        #: Runbooks as the operator's watch sees them (bound by the operator; None: read each from the API).
        self.runbooks: access.Known | None = None

    @functools.cached_property
    def _key(self) -> bytes:
        """The snapshot sealing key, read (or created) on first use."""
        return snapshot.load_key(self.clients, self.operator_namespace)

    # -- entry point ---------------------------------------------------------------------

    def reconcile(self, remediation: dict[str, Any]) -> float | None:
        """One transition. Returns seconds until the next call, or None when finished."""
        meta = remediation["metadata"]
        try:
            delay = self._transition(remediation)
        except records.Conflict:
            log.debug("remediation %s/%s changed while deciding; reading it again", meta["namespace"], meta["name"])
            self.newest.replaced(remediation, None)
            return 0.0
        if delay is None:
            self.newest.forget(remediation)
        return delay

    def latest(self, observed: dict[str, Any]) -> dict[str, Any] | None:
        """The state to work from when the watch shows ``observed`` (see freshness); None: read it."""
        return self.newest.of(observed)

    def reread(self, observed: dict[str, Any]) -> dict[str, Any]:
        """Read a Remediation whose newer state is unknown (after a conflict), and remember it."""
        meta = observed["metadata"]
        current = records.read(self.clients, meta["namespace"], meta["name"])
        self.newest.replaced(observed, current)
        return current

    def _write(self, rem: dict[str, Any], status: RemediationStatus) -> None:
        """Write the status (conditional on the version read) and remember the response as the newest state."""
        self.newest.replaced(rem, records.write(self.clients, rem, status))

    def _transition(self, remediation: dict[str, Any]) -> float | None:
        status = RemediationStatus.model_validate(remediation.get("status") or {})
        if status.phase in TERMINAL_PHASES:
            return None
        try:
            spec = RemediationSpec.model_validate(remediation.get("spec") or {})
        except ValidationError as exc:
            return self._finish(remediation, status, "Failed", "InvalidSpec", f"invalid spec: {exc}")
        try:
            if status.started_at is None:
                return self._accept(remediation, spec, status)
            if status.phase == "AwaitingApproval":
                return self._await_approval(remediation, spec, status)
            return self._run_step(remediation, spec, status)
        except access.Refused as refused:
            return self._finish(remediation, status, refused.phase, refused.reason, str(refused))

    # -- phases --------------------------------------------------------------------------

    def _accept(self, rem: dict[str, Any], spec: RemediationSpec, status: RemediationStatus) -> float | None:
        namespace = rem["metadata"]["namespace"]
        runbook = access.load_runbook(self.clients, spec, namespace, self.runbooks)
        target = access.target_ref(spec, namespace)
        access.authorize(self.clients, runbook, target, namespace, self.operator_namespace)
        obj = targets.read(self.clients, target.kind, target.name, target.namespace)
        access.check_target(runbook, target, obj)
        for step in runbook.spec.steps:
            if REGISTRY[step.action].cluster_only and not runbook.cluster_scoped:
                raise access.Refused("ClusterRunbookRequired", f"{step.action} needs a ClusterRunbook")
            if step.action in NODE_ACTIONS and "Node" not in runbook.spec.target.kinds:
                raise access.Refused(
                    "TargetNotAccepted",
                    f"{step.action} acts on nodes: {runbook.kind} {runbook.name} must name Node in target.kinds",
                )

        status.started_at = now()
        status.runbook_generation = runbook.generation
        status.runbook_spec = runbook.spec.dump()
        status.runbook_digest = snapshot.seal(
            self._key, rem["metadata"]["uid"], runbook.kind, runbook.name, status.runbook_spec
        )
        status.target_summary = target.describe()
        status.observed_generation = rem["metadata"].get("generation")
        status.conditions = records.set_condition(
            status.conditions,
            "Accepted",
            True,
            "Accepted",
            f"{runbook.kind} {runbook.name} may act on {target.describe()}",
            status.observed_generation,
        )
        status.approval = ApprovalRecord(requested_by=spec.requested_by or "", approvers=runbook.spec.approvers)
        dry_run = spec.dry_run or runbook.spec.dry_run
        shared = runbook.cluster_scoped and namespace != self.operator_namespace
        if (spec.trigger is not None or shared) and not dry_run:
            # Automatic remediations spend a rate-limit budget, and so does a tenant's one-off use of a
            # shared ClusterRunbook (it acts with powers the tenant lacks); an admin's one-off fix does not.
            decision = self.gate.admit(rem, runbook, target)
            if not decision.admitted:
                return self._finish(rem, status, decision.phase, decision.reason, decision.message)
        if runbook.spec.requires_approval and not dry_run:
            # Even when created approved (only cluster admins may): _await_approval judges who approved.
            requester = status.approval.requested_by or "unknown"
            who = approvals.describe(runbook.spec.approvers)
            status.phase = "AwaitingApproval"
            status.message = f"requested by {requester}; waiting for approval (spec.approved, spec.approvedBy) by {who}"
            status.conditions = records.set_condition(
                status.conditions,
                "Approved",
                False,
                "AwaitingApproval",
                f"{runbook.kind} {runbook.name} requires approval by {who}: set spec.approved to true and "
                "spec.approvedBy to your username",
                status.observed_generation,
            )
            self._write(rem, status)
            self._event(rem, "AwaitingApproval", status.message)
            return 0.0 if spec.approved else APPROVAL_POLL
        status.phase = "Running"
        status.message = f"running {len(runbook.spec.steps)} steps of {runbook.kind} {runbook.name}"
        # The first step is planned in this same pass: one write records the acceptance and the step's
        # intent together (a write and a read of the target fewer before the first action). Killed
        # before that write, the next pass accepts again: admission is idempotent per Remediation.
        return self._run_step(rem, spec, status)

    def _await_approval(self, rem: dict[str, Any], spec: RemediationSpec, status: RemediationStatus) -> float:
        verdict = None
        if spec.approved:
            verdict = approvals.judge("approve", spec.approved_by, status.approval, self.guard.installed())
        generation = rem["metadata"].get("generation")
        if verdict is not None and not verdict.honoured:
            # Said once (condition and Event) per distinct refusal; the approver can still correct it.
            current = next((c for c in status.conditions if c.type == "Approved"), None)
            if current is None or current.message != verdict.message:
                status.message = verdict.message
                status.conditions = records.set_condition(
                    status.conditions, "Approved", False, verdict.reason, verdict.message, generation
                )
                self._write(rem, status)
                self._event(rem, verdict.reason, verdict.message, warning=True)
                return APPROVAL_POLL
        if verdict is None or not verdict.honoured:
            if status.escalation is None and self._waited_too_long(rem, status):
                self._start_escalation(rem, status, "ApprovalTimeout")
                if status.escalation is not None:
                    self._write(rem, status)
            return APPROVAL_POLL
        status.approval = (status.approval or ApprovalRecord()).model_copy(
            update={"approved_by": spec.approved_by, "approved_at": now()}
        )
        status.phase = "Running"
        status.message = verdict.message
        status.conditions = records.set_condition(
            status.conditions, "Approved", True, "Approved", verdict.message, generation
        )
        self._write(rem, status)
        self._event(rem, "Approved", f"{verdict.message}; running the steps")
        return 0.0

    def _run_step(self, rem: dict[str, Any], spec: RemediationSpec, status: RemediationStatus) -> float | None:
        model = ClusterRunbookSpec if spec.runbook_ref.kind == "ClusterRunbook" else RunbookSpec
        ref = spec.runbook_ref
        if not snapshot.intact(
            self._key,
            rem["metadata"]["uid"],
            ref.kind,
            ref.name,
            status.runbook_spec or {},
            status.runbook_digest or "",
        ):
            raise access.Refused(
                "SnapshotTampered",
                "status.runbookSpec no longer matches the digest sealed at acceptance: it was changed by someone "
                "other than the operator; no further step runs from it",
            )
        try:
            runbook = model.model_validate(status.runbook_spec or {})
        except ValidationError as exc:
            raise access.Refused("InvalidRunbook", f"the recorded runbook spec no longer parses: {exc}") from None
        index = status.current_step
        step = runbook.steps[index]
        record = status.steps[index] if index < len(status.steps) else None
        dry_run = spec.dry_run or runbook.dry_run
        if record is None:
            return self._plan(rem, spec, status, runbook, step, dry_run)
        if record.phase == "Applying":
            return self._apply(rem, spec, status, runbook, step, record)
        if record.phase == "Verifying":
            return self._verify(rem, spec, status, runbook, step, record)
        # A finished step whose successor was not recorded yet (killed in between).
        return self._advance(rem, status, runbook, record)

    # -- one step ------------------------------------------------------------------------

    def _context(
        self,
        rem: dict[str, Any],
        spec: RemediationSpec,
        status: RemediationStatus,
        step: Step,
        index: int,
        record: StepRecord | None = None,
    ) -> Context:
        """At plan time the target is resolved; later phases re-read the object the plan recorded
        (a restarted Deployment's old pod is gone, but the step goes on)."""
        meta = rem["metadata"]
        if record is not None and record.target is not None:
            target = targets.reread(self.clients, record.target)
        else:
            ref = access.target_ref(spec, meta["namespace"])
            if step.target is not None:
                ref = self._step_target(rem, spec, status, step, ref)
            target = targets.resolve(self.clients, ref, REGISTRY[step.action].kinds, step.action)
            acted_on = ObjectRef(
                api_version=target.api_version, kind=target.kind, name=target.name, namespace=target.namespace
            )
            labels = dict(target.obj.get("metadata", {}).get("labels") or {})
            access.authorize_acted_on(
                self.clients, self._loaded(spec, status), acted_on, labels, meta["namespace"], self.operator_namespace
            )
        history = tuple(s.dump() for s in status.steps[:index])
        dry_run = spec.dry_run or bool((status.runbook_spec or {}).get("dryRun"))
        return Context(
            self.clients,
            target,
            meta["name"],
            meta["namespace"],
            meta["uid"],
            index,
            history,
            dry_run=dry_run,
            runbook_kind=spec.runbook_ref.kind,
        )

    def _plan(
        self,
        rem: dict[str, Any],
        spec: RemediationSpec,
        status: RemediationStatus,
        runbook: RunbookSpec,
        step: Step,
        dry_run: bool,
    ) -> float | None:
        index = status.current_step
        record = StepRecord(
            index=index, name=step.name or step.action, action=step.action, phase="Applying", started_at=now()
        )
        try:
            ctx = self._context(rem, spec, status, step, index)
            plan = REGISTRY[step.action].plan(ctx, step.params)
        except (ActionFailed, access.Refused) as exc:
            reason = exc.reason
            return self._step_failed(rem, status, runbook, record, reason, str(exc))
        record.plan = plan.summary
        record.changes = dict(plan.changes)
        record.target = ResolvedTarget(
            api_version=ctx.target.api_version,
            kind=ctx.target.kind,
            name=ctx.target.name,
            namespace=ctx.target.namespace,
        )
        status.resolved_target = record.target
        if dry_run:
            try:
                provider = REGISTRY[step.action].dry_run(ctx, step.params, plan)
            except ActionFailed as exc:
                return self._step_failed(rem, status, runbook, record, exc.reason, str(exc))
            record.phase = "DryRun"
            record.finished_at = now()
            record.message = f"dry run: would {plan.summary}" + (f"; {provider}" if provider else "")
            status.steps = [*status.steps[:index], record]
            return self._advance(rem, status, runbook, record)
        record.deadline = _after(step.timeout)
        record.message = f"planned: {plan.summary}"
        status.steps = [*status.steps[:index], record]
        status.phase = "Running"
        status.message = f"step {index + 1}/{len(runbook.steps)}: {plan.summary}"
        self._write(rem, status)  # the intent, before anything changes
        return 0.0

    def _apply(
        self,
        rem: dict[str, Any],
        spec: RemediationSpec,
        status: RemediationStatus,
        runbook: RunbookSpec,
        step: Step,
        record: StepRecord,
    ) -> float | None:
        action = REGISTRY[step.action]
        if _expired(record.deadline):
            return self._step_failed(
                rem, status, runbook, record, "Timeout", f"timed out after {step.timeout}: {record.message}"
            )
        try:
            ctx = self._context(rem, spec, status, step, record.index, record)
            result = action.apply(ctx, step.params, Plan(record.plan, record.changes))
        except (ActionFailed, access.Refused) as exc:
            reason = exc.reason
            record.attempts += 1
            return self._step_failed(rem, status, runbook, record, reason, str(exc))
        except ApiException as exc:
            if exc.status in (400, 403, 404, 422):
                record.attempts += 1
                return self._step_failed(rem, status, runbook, record, "Rejected", _api_message(exc))
            record.message = f"transient error, retrying: {_api_message(exc)}"
            self._write(rem, status)
            return TRANSIENT_RETRY
        record.attempts += 1
        record.message = result.message
        record.changes = {**record.changes, **result.changes}
        if not isinstance(result, Done):
            self._write(rem, status)
            return result.retry_after
        if record.index == 0 and spec.trigger is not None and spec.trigger.fired_at:
            lag = (_utcnow() - parse_time(spec.trigger.fired_at)).total_seconds()
            metrics.DETECT_TO_ACT.labels(spec.trigger.kind).observe(max(lag, 0.0))
        self._event(
            rem, "ActionApplied", f"step {record.index + 1} ({step.action}): {result.message}", target=ctx.target
        )
        check = _check(step, action.default_check)
        if check is None:
            return self._step_succeeded(rem, status, runbook, record)
        record.phase = "Verifying"
        record.deadline = _after(_verify_timeout(step))
        status.phase = "Verifying"
        self._write(rem, status)
        return 0.5

    def _verify(
        self,
        rem: dict[str, Any],
        spec: RemediationSpec,
        status: RemediationStatus,
        runbook: RunbookSpec,
        step: Step,
        record: StepRecord,
    ) -> float | None:
        action = REGISTRY[step.action]
        check = _check(step, action.default_check) or "None"
        ctx = self._context(rem, spec, status, step, record.index, record)
        try:
            ok, detail = action.verify(ctx, step.params, Plan(record.plan, record.changes), check)
        except ApiException as exc:
            ok, detail = False, _api_message(exc)
        stable_for = parse_duration(step.verify.stable_for if step.verify else "0s")
        if ok:
            record.verified_since = record.verified_since or now()
            if parse_time(record.verified_since) + stable_for <= _utcnow():
                record.message = f"verified ({check}): {detail}"
                return self._step_succeeded(rem, status, runbook, record)
        else:
            record.verified_since = None
        if _expired(record.deadline):
            return self._step_failed(
                rem,
                status,
                runbook,
                record,
                "VerificationFailed",
                f"{check} did not hold within {_verify_timeout(step)}: {detail}",
            )
        message = f"verifying {check}: {detail}"
        if message != record.message:
            record.message = message
            self._write(rem, status)
        return 1.0

    # -- outcomes ------------------------------------------------------------------------

    def _step_succeeded(
        self, rem: dict[str, Any], status: RemediationStatus, runbook: RunbookSpec, record: StepRecord
    ) -> float | None:
        record.phase = "Succeeded"
        record.finished_at = now()
        record.deadline = None
        _observe(record)
        status.steps = [*status.steps[: record.index], record]
        return self._advance(rem, status, runbook, record)

    def _step_failed(
        self,
        rem: dict[str, Any],
        status: RemediationStatus,
        runbook: RunbookSpec,
        record: StepRecord,
        reason: str,
        message: str,
    ) -> float | None:
        record.phase = "Failed"
        record.finished_at = now()
        record.deadline = None
        record.reason = reason
        _observe(record)
        record.message = message
        status.steps = [*status.steps[: record.index], record]
        self._event(rem, reason, f"step {record.index + 1} ({record.action}) failed: {message}", warning=True)
        return self._advance(rem, status, runbook, record)

    def _advance(
        self, rem: dict[str, Any], status: RemediationStatus, runbook: RunbookSpec, record: StepRecord
    ) -> float | None:
        """Record what follows a finished step (decided by transitions.after_step)."""
        outcome = transitions.after_step(runbook.mode, len(runbook.steps), record, status.steps)
        if isinstance(outcome, transitions.Finish):
            return self._finish(rem, status, outcome.phase, outcome.reason, outcome.message)
        status.current_step = outcome.step
        status.phase = "Running"
        status.message = outcome.message
        self._write(rem, status)
        return 0.0

    def _finish(
        self, rem: dict[str, Any], status: RemediationStatus, phase: str, reason: str, message: str
    ) -> float | None:
        status.phase = phase  # type: ignore[assignment]
        status.message = message[:2048]
        status.finished_at = now()
        status.started_at = status.started_at or status.finished_at
        if not status.target_summary:
            target = (rem.get("spec") or {}).get("target") or {}
            ns = target.get("namespace") or (rem["metadata"]["namespace"] if target.get("kind") != "Node" else None)
            status.target_summary = "/".join(x for x in (target.get("kind"), ns, target.get("name")) if x)
        succeeded = phase in ("Succeeded", "DryRun")
        if reason in CONFIGURATION:
            status.conditions = records.set_condition(
                status.conditions, "Accepted", False, reason, message, rem["metadata"].get("generation")
            )
        status.conditions = records.set_condition(
            status.conditions, "Ready", succeeded, reason, message, rem["metadata"].get("generation")
        )
        if status.escalation is None:
            cause = escalation_cause(phase, reason, self._recorded_runbook(rem, status))
            if cause is not None:
                self._start_escalation(rem, status, cause)
        self._write(rem, status)
        self._event(rem, phase, message, warning=not succeeded)
        runbook_name = str(((rem.get("spec") or {}).get("runbookRef") or {}).get("name", ""))
        metrics.REMEDIATIONS.labels(runbook_name, phase, reason).inc()
        if phase in ("RateLimited", "Skipped") and reason not in CONFIGURATION:
            metrics.REFUSED.labels(reason).inc()
        return None

    def _step_target(
        self, rem: dict[str, Any], spec: RemediationSpec, status: RemediationStatus, step: Step, default: ObjectRef
    ) -> ObjectRef:
        """A step's own target, held to the same rules as the Remediation's."""
        assert step.target is not None
        ref = step.target
        if ref.kind != "Node" and ref.namespace is None:
            ref = ref.model_copy(update={"namespace": default.namespace or rem["metadata"]["namespace"]})
        runbook = self._loaded(spec, status)
        access.authorize(self.clients, runbook, ref, rem["metadata"]["namespace"], self.operator_namespace)
        return ref

    def _loaded(self, spec: RemediationSpec, status: RemediationStatus) -> access.LoadedRunbook:
        """The runbook as recorded at acceptance, which every step runs from."""
        return access.parse_runbook(
            spec.runbook_ref.kind,
            {
                "metadata": {"name": spec.runbook_ref.name, "generation": status.runbook_generation or 1},
                "spec": status.runbook_spec or {},
            },
        )

    # -- escalation ----------------------------------------------------------------------

    def _recorded_runbook(self, rem: dict[str, Any], status: RemediationStatus) -> RunbookSpec | None:
        """The runbook snapshot, read with its own kind's model (a ClusterRunbook's runJob is a full JobSpec)."""
        cluster = ((rem.get("spec") or {}).get("runbookRef") or {}).get("kind") == "ClusterRunbook"
        model = ClusterRunbookSpec if cluster else RunbookSpec
        try:
            return model.model_validate(status.runbook_spec or {})
        except ValidationError:
            return None

    def _policy(self, rem: dict[str, Any], status: RemediationStatus) -> tuple[str, EscalationPolicySpec] | None:
        runbook = self._recorded_runbook(rem, status)
        if runbook is None or runbook.escalation_policy_ref is None:
            return None
        cluster = (rem.get("spec") or {}).get("runbookRef", {}).get("kind") == "ClusterRunbook"
        namespace = self.operator_namespace if cluster else rem["metadata"]["namespace"]
        name = runbook.escalation_policy_ref.name
        try:
            obj = self.clients.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, "escalationpolicies", name
            )
        except ApiException as exc:
            if exc.status == 404:
                log.warning("EscalationPolicy %s/%s not found: nobody is notified", namespace, name)
                return None
            raise
        return f"{namespace}/{name}", EscalationPolicySpec.model_validate(obj.get("spec") or {})

    def _start_escalation(self, rem: dict[str, Any], status: RemediationStatus, cause: str) -> None:
        found = self._policy(rem, status)
        if found is None:
            return
        where, policy = found
        if cause not in policy.escalate_on:
            return
        status.escalation = EscalationStatus(policy=where, reason=cause, started_at=status.started_at or now())
        self._event(rem, "Escalated", f"escalating to humans ({cause}) through EscalationPolicy {where}", warning=True)

    def _waited_too_long(self, rem: dict[str, Any], status: RemediationStatus) -> bool:
        found = self._policy(rem, status)
        if found is None or status.started_at is None:
            return False
        return parse_time(status.started_at) + parse_duration(found[1].approval_timeout) <= _utcnow()

    def _event(
        self, rem: dict[str, Any], reason: str, message: str, *, warning: bool = False, target: Target | None = None
    ) -> None:
        events.post(self.clients, events.involved(rem, "Remediation", API_VERSION), reason, message, warning=warning)
        if target is not None:
            meta = target.obj.get("metadata", {})
            involved = {
                "apiVersion": target.api_version,
                "kind": target.kind,
                "name": target.name,
                "namespace": target.namespace,
                "uid": meta.get("uid"),
            }
            text = f"paramedic Remediation {rem['metadata']['namespace']}/{rem['metadata']['name']}: {message}"
            events.post(self.clients, involved, reason, text, warning=warning)


def _observe(record: StepRecord) -> None:
    if record.finished_at:
        seconds = (parse_time(record.finished_at) - parse_time(record.started_at)).total_seconds()
        metrics.ACTION_SECONDS.labels(record.action, record.phase).observe(max(seconds, 0.0))


def _verify_timeout(step: Step) -> str:
    return step.verify.timeout if step.verify else Verify().timeout


def _check(step: Step, default: str | None) -> str | None:
    check = step.verify.check if step.verify and step.verify.check else default
    return None if check in (None, "None") else check


def _utcnow() -> datetime:
    return parse_time(now())


def _after(duration: str) -> str:
    return (_utcnow() + parse_duration(duration)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _expired(deadline: str | None) -> bool:
    return deadline is not None and parse_time(deadline) <= _utcnow()


def _api_message(exc: ApiException) -> str:
    return f"{exc.status} {exc.reason}: {(exc.body or '')[:500]}"
