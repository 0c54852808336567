"""The remediation engine's driver: the I/O around a pure decision.

``reconcile`` is one level-triggered pass over a Remediation: ``decide.route``
says what it needs from the recorded status alone; the driver performs that
one piece of I/O (read the runbook and the target and admit, judge an
approval, or plan, apply or verify a step through its action); the matching
decision in ``decide`` turns what was observed into a ``Transition``; the
driver writes its status ONCE (conditional on the version read), then posts
its Events and metrics, and says when to pass again. Because every decision
is derived from the recorded status, an operator killed at any instant
resumes exactly where it was:

- a step whose plan is recorded but whose outcome is not is applied again,
  with the recorded plan (actions are idempotent for a given plan);
- a step whose outcome is recorded is never applied again.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from paramedic import fencing
from paramedic.actions import REGISTRY
from paramedic.actions.base import ActionFailed, Plan, Target
from paramedic.api.common import API_VERSION, GROUP, VERSION, utcnow
from paramedic.api.policies import EscalationPolicySpec
from paramedic.api.remediation import TERMINAL_PHASES, RemediationSpec, RemediationStatus, ResolvedTarget
from paramedic.api.runbook import ClusterRunbookSpec, RunbookSpec
from paramedic.escalation.causes import CONFIGURATION
from paramedic.evidence.gather import Gatherer, Settings
from paramedic.kube import ApiException, Clients
from paramedic.policy import access, approvals
from paramedic.policy.admission import AdmissionGuard
from paramedic.policy.gate import Gate
from paramedic.policy.ratelimit import Decision
from paramedic.records import events, invalid, metrics
from paramedic.records import status as records

from . import collect, context, decide, fanning, freshness, gathering, snapshot, targets, verifying
from .transitions import Emit, Transition, recorded_runbook

log = logging.getLogger(__name__)

#: Kept for callers of the old names.
APPROVAL_POLL = decide.APPROVAL_POLL
TRANSIENT_RETRY = decide.TRANSIENT_RETRY


@dataclasses.dataclass
class Engine:
    clients: Clients
    operator_namespace: str = "paramedic-system"
    evidence: Settings = dataclasses.field(default_factory=Settings)

    def __post_init__(self) -> None:
        self.gatherer = Gatherer(self.clients, self.evidence)
        self.gate = Gate(self.clients, self.operator_namespace)
        self.guard = AdmissionGuard(self.clients)
        self.newest = freshness.Newest()
        #: Runbooks as the operator's watch sees them (bound by the operator; None: read each from the API).
        self.runbooks: access.Known | None = None
        #: The Prometheus client for verify.promql (bound by the operator; None: such a condition never holds).
        self.prometheus: verifying.Querier | None = None

    @functools.cached_property
    def _key(self) -> bytes:
        """The snapshot sealing key, read (or created) on first use."""
        return snapshot.load_key(self.clients, self.operator_namespace)

    # -- entry point ---------------------------------------------------------------------

    def reconcile(self, remediation: dict[str, Any]) -> float | None:
        """One pass. Returns seconds until the next call, or None when finished."""
        meta = remediation["metadata"]
        try:
            delay = self._pass(remediation)
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

    def _pass(self, rem: dict[str, Any]) -> float | None:
        status = RemediationStatus.model_validate(rem.get("status") or {})
        if status.phase in TERMINAL_PHASES:
            return None
        try:
            spec = RemediationSpec.model_validate(rem.get("spec") or {})
        except ValidationError as exc:
            return self._commit(
                rem,
                status,
                decide.finish(rem, status, "Failed", invalid.REASON, f"invalid spec: {invalid.explain(exc)}", utcnow()),
            )
        try:
            running = status.started_at is not None and status.phase != "AwaitingApproval"
            runbook = self._snapshot(rem, spec, status) if running else None
            owed = gathering.owed(runbook, status)  # evidence hook: gather before planning (engine.gathering)
            if owed is not None and runbook is not None:
                return self._commit(rem, status, collect.run(self.gatherer, rem, spec, status, runbook, owed))
            move = decide.route(rem, spec, status, runbook, utcnow())
            if isinstance(move, Transition):
                return self._commit(rem, status, move)
            if isinstance(move, decide.Accept):
                return self._accept(rem, spec, status)
            if isinstance(move, decide.AwaitApproval):
                return self._await_approval(rem, spec, status)
            assert runbook is not None
            if move.step.fan_out is not None:  # fan-out hook (engine/fanning.py)
                return self._commit(rem, status, fanning.drive(self.gate, rem, spec, status, runbook, move, utcnow()))
            if isinstance(move, decide.PlanStep):
                return self._plan(rem, spec, status, runbook, move)
            if isinstance(move, decide.ApplyStep):
                return self._apply(rem, spec, status, runbook, move)
            return self._verify(rem, spec, status, runbook, move)
        except access.Refused as refused:
            return self._commit(
                rem, status, decide.finish(rem, status, refused.phase, refused.reason, str(refused), utcnow())
            )

    # -- the I/O of each move ------------------------------------------------------------

    def _accept(self, rem: dict[str, Any], spec: RemediationSpec, status: RemediationStatus) -> float | None:
        namespace = rem["metadata"]["namespace"]
        runbook = access.load_runbook(self.clients, spec, namespace, self.runbooks)
        target = access.target_ref(spec, namespace)
        access.authorize(self.clients, runbook, target, namespace, self.operator_namespace)
        obj = targets.read(self.clients, target.kind, target.name, target.namespace)
        access.check_target(runbook, target, obj)
        wrong = decide.steps_refused(runbook) or fanning.refused(runbook)  # fan-out hook
        if wrong is not None:
            raise wrong
        digest = snapshot.seal(self._key, rem["metadata"]["uid"], runbook.kind, runbook.name, runbook.spec.dump())
        admission = None
        if decide.needs_admission(spec, runbook, namespace, self.operator_namespace):
            try:
                admission = self.gate.admit(rem, runbook, target)
            except access.Refused as refused:
                admission = Decision(False, refused.phase, refused.reason, str(refused))
        accepted = decide.accept(rem, spec, status, runbook, target.describe(), digest, admission, utcnow())
        if accepted.status is not None and accepted.status.phase == "Running" and accepted.escalate is None:
            # The first step is planned in this same pass: one write records the acceptance and the step's
            # intent together (a write and a read of the target fewer before the first action). Killed
            # before that write, the next pass accepts again: admission is idempotent per Remediation.
            move = decide.route(rem, spec, accepted.status, runbook.spec, utcnow())
            if isinstance(move, decide.PlanStep) and gathering.owed(runbook.spec, accepted.status) is None:
                planned = self._planned(rem, spec, accepted.status, runbook.spec, move)
                accepted = dataclasses.replace(planned, events=(*accepted.events, *planned.events))
        return self._commit(rem, status, accepted)

    def _await_approval(self, rem: dict[str, Any], spec: RemediationSpec, status: RemediationStatus) -> float | None:
        verdict = None
        if spec.approved:
            verdict = approvals.judge("approve", spec.approved_by, status.approval, self.guard.installed())
        return self._commit(rem, status, decide.awaiting(rem, spec, status, verdict, utcnow()))

    def _snapshot(self, rem: dict[str, Any], spec: RemediationSpec, status: RemediationStatus) -> RunbookSpec:
        """The runbook recorded at acceptance, provided its seal still holds."""
        ref = spec.runbook_ref
        recorded = status.runbook_spec or {}
        if not snapshot.intact(
            self._key, rem["metadata"]["uid"], ref.kind, ref.name, recorded, status.runbook_digest or ""
        ):
            raise access.Refused(
                "SnapshotTampered",
                "status.runbookSpec no longer matches the digest sealed at acceptance: it was changed by someone "
                "other than the operator; no further step runs from it",
            )
        model = ClusterRunbookSpec if ref.kind == "ClusterRunbook" else RunbookSpec
        try:
            return model.model_validate(recorded)
        except ValidationError as exc:
            raise access.Refused("InvalidRunbook", f"the recorded runbook spec no longer parses: {exc}") from None

    def _plan(
        self,
        rem: dict[str, Any],
        spec: RemediationSpec,
        status: RemediationStatus,
        runbook: RunbookSpec,
        move: decide.PlanStep,
    ) -> float | None:
        return self._commit(rem, status, self._planned(rem, spec, status, runbook, move))

    def _planned(
        self,
        rem: dict[str, Any],
        spec: RemediationSpec,
        status: RemediationStatus,
        runbook: RunbookSpec,
        move: decide.PlanStep,
    ) -> Transition:
        if move.step.fan_out is not None:  # fan-out hook: the first step planned at acceptance
            return fanning.drive(self.gate, rem, spec, status, runbook, move, utcnow())
        action = REGISTRY[move.step.action]
        outcome: decide.Planned | decide.Failure
        try:
            ctx = context.build(self.clients, rem, spec, status, move.step, move.index, self.operator_namespace)
            plan = action.plan(ctx, move.step.params)
        except (ActionFailed, access.Refused) as exc:
            outcome = decide.Failure(exc.reason, str(exc))
        else:
            t = ctx.target
            resolved = ResolvedTarget(api_version=t.api_version, kind=t.kind, name=t.name, namespace=t.namespace)
            outcome = decide.Planned(plan.summary, plan.changes, resolved)
            if move.dry_run:
                try:
                    outcome = dataclasses.replace(outcome, provider=action.dry_run(ctx, move.step.params, plan))
                except ActionFailed as exc:
                    outcome = dataclasses.replace(outcome, failure=decide.Failure(exc.reason, str(exc)))
        # Without a dry run, this write records the step's intent (its plan) before _apply changes anything.
        epoch = fencing.current().epoch  # fencing hook: the intent carries its leadership
        return decide.planned(rem, status, runbook, move, outcome, utcnow(), epoch)

    def _apply(
        self,
        rem: dict[str, Any],
        spec: RemediationSpec,
        status: RemediationStatus,
        runbook: RunbookSpec,
        move: decide.ApplyStep,
    ) -> float | None:
        action, record = REGISTRY[move.step.action], move.record
        outcome: Any
        target = None
        try:
            ctx = context.build(
                self.clients, rem, spec, status, move.step, record.index, self.operator_namespace, record
            )
            target = ctx.target
            fencing.current().check(f"{move.step.action} of {rem['metadata']['name']}")  # fencing hook
            outcome = action.apply(ctx, move.step.params, Plan(record.plan, record.changes))
        except (ActionFailed, access.Refused) as exc:
            outcome = decide.Failure(exc.reason, str(exc))
        except ApiException as exc:
            said = targets.api_message(exc)
            outcome = decide.Failure("Rejected", said) if exc.status in targets.REJECTED else decide.Transient(said)
        transition = decide.applied(rem, status, runbook, move, outcome, action.default_check, utcnow())
        return self._commit(rem, status, transition, target, spec)

    def _verify(
        self,
        rem: dict[str, Any],
        spec: RemediationSpec,
        status: RemediationStatus,
        runbook: RunbookSpec,
        move: decide.VerifyStep,
    ) -> float | None:
        action, record = REGISTRY[move.step.action], move.record
        check = decide.check_of(move.step, action.default_check) or "None"
        ctx = context.build(self.clients, rem, spec, status, move.step, record.index, self.operator_namespace, record)
        instant = verifying.instant_for(self.prometheus, rem, spec, runbook, self.operator_namespace)
        try:
            ok, detail = verifying.look(action, ctx, move.step, Plan(record.plan, record.changes), check, instant)
        except ApiException as exc:
            ok, detail = False, targets.api_message(exc)
        named = verifying.label(check, move.step)
        return self._commit(rem, status, decide.verified(rem, status, runbook, move, named, ok, detail, utcnow()))

    # -- the one write, then what follows it ---------------------------------------------

    def _commit(
        self,
        rem: dict[str, Any],
        base: RemediationStatus,
        transition: Transition,
        target: Target | None = None,
        spec: RemediationSpec | None = None,
    ) -> float | None:
        """Write the transition's status (with any escalation it starts) once, then post its Events and
        record its metrics: nothing is said about a pass whose write conflicted."""
        status = transition.status
        said = list(transition.events)
        if transition.escalate is not None:
            current = status or base
            found = self._escalation_policy(rem, current)
            started = decide.escalation(current, transition.escalate, *found, utcnow()) if found else None
            if started is not None:
                status = (status or base).model_copy(deep=True)
                status.escalation = started
                said.append(
                    Emit(
                        "Escalated",
                        f"escalating to humans ({started.reason}) through EscalationPolicy {started.policy}",
                        warning=True,
                    )
                )
        if status is not None:
            self.newest.replaced(rem, records.write(self.clients, rem, status))
            if status.phase != base.phase:
                meta = rem["metadata"]
                log.info(
                    "remediation %s/%s: %s -> %s: %s",
                    meta["namespace"],
                    meta["name"],
                    base.phase,
                    status.phase,
                    status.message[:300],
                )
            if len(status.steps) > len(base.steps) and status.steps[-1].phase == "Skipped":  # a when: decision
                step, meta = status.steps[-1], rem["metadata"]
                log.info(
                    "remediation %s/%s: step %d skipped: %s",
                    meta["namespace"],
                    meta["name"],
                    step.index + 1,
                    step.message[:300],
                )
        for emit in said:
            self._event(rem, emit, target if emit.on_target else None)
        self._observe(rem, transition, spec)
        return transition.requeue

    def _escalation_policy(
        self, rem: dict[str, Any], status: RemediationStatus
    ) -> tuple[str, EscalationPolicySpec] | None:
        """The recorded runbook's EscalationPolicy (namespace/name and spec), if it names one that exists."""
        spec = rem.get("spec") or {}
        runbook = recorded_runbook(spec, status)
        if runbook is None or runbook.escalation_policy_ref is None:
            return None
        cluster = (spec.get("runbookRef") or {}).get("kind") == "ClusterRunbook"
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
        try:
            return f"{namespace}/{name}", EscalationPolicySpec.model_validate(obj.get("spec") or {})
        except ValidationError as exc:  # said once per generation on the policy (Ready=False, Invalid)
            message = invalid.explain(exc)
            if not invalid.already_said(obj.get("status"), obj["metadata"].get("generation"), message[:1024]):
                invalid.report(self.clients, "escalationpolicies", "EscalationPolicy", obj, message)
            return None

    def _event(self, rem: dict[str, Any], emit: Emit, target: Target | None) -> None:
        involved = events.involved(rem, "Remediation", API_VERSION)
        events.post(self.clients, involved, emit.reason, emit.message, warning=emit.warning)
        if target is not None:
            meta = target.obj.get("metadata", {})
            on = {
                "apiVersion": target.api_version,
                "kind": target.kind,
                "name": target.name,
                "namespace": target.namespace,
                "uid": meta.get("uid"),
            }
            text = f"paramedic Remediation {rem['metadata']['namespace']}/{rem['metadata']['name']}: {emit.message}"
            events.post(self.clients, on, emit.reason, text, warning=emit.warning)

    @staticmethod
    def _observe(rem: dict[str, Any], transition: Transition, spec: RemediationSpec | None) -> None:
        for record in transition.steps_ended:
            if record.finished_at is not None:
                seconds = (record.finished_at - record.started_at).total_seconds()
                metrics.ACTION_SECONDS.labels(record.action, record.phase).observe(max(seconds, 0.0))
        if transition.acted and spec is not None and spec.trigger is not None and spec.trigger.fired_at is not None:
            lag = (datetime.now(UTC) - spec.trigger.fired_at).total_seconds()
            metrics.DETECT_TO_ACT.labels(spec.trigger.kind).observe(max(lag, 0.0))
        if transition.ended is not None:
            phase, reason = transition.ended
            runbook_name = str(((rem.get("spec") or {}).get("runbookRef") or {}).get("name", ""))
            metrics.REMEDIATIONS.labels(runbook_name, phase, reason).inc()
            if phase in ("RateLimited", "Skipped") and reason not in CONFIGURATION:
                metrics.REFUSED.labels(reason).inc()
