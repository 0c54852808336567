"""The I/O of a fanned-out step (``Step.fanOut``): resolve its set once, then plan, apply and verify targets.

``fanout`` decides (which targets this pass starts, applies and verifies; when
the step is over); this module reads and acts, and hands back one
``Transition``: the step's record with every target's progress, written once
per pass by the engine like any other.

- The set is the objects of ``fanOut.kinds`` matching ``fanOut.selector`` in
  the runbook's scope (``policy.scope``: a Runbook's own namespace; for a
  ClusterRunbook the namespaces it may act in for this Remediation), listed
  when the step is planned and recorded sorted; more than ``MAX_TARGETS`` (or
  none) fails the step.
- When the Remediation spends a rate-limit budget, the whole set is admitted
  (one ledger entry per target) before any target's intent is recorded; a
  budget that cannot cover it ends the Remediation as any refusal does.
- Every target is held to the access rules (``authorize_acted_on``) when its
  plan is made, and its intent (plan, leadership) is recorded before it is
  applied, through the leadership permit like any other step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from paramedic import fencing
from paramedic.actions import REGISTRY
from paramedic.actions.base import ActionFailed, Context, Plan, Target
from paramedic.api.common import ObjectRef, parse_duration
from paramedic.api.fanout import FANOUT_ACTIONS, MAX_TARGETS, FanOut, TargetProgress, TargetRef
from paramedic.api.remediation import RemediationSpec, RemediationStatus, ResolvedTarget, StepRecord
from paramedic.api.runbook import RunbookSpec, Step
from paramedic.kube import ApiException, Clients
from paramedic.kube.kinds import KINDS, api_version
from paramedic.kube.selectors import to_query
from paramedic.policy import access, scope
from paramedic.policy.gate import Gate
from paramedic.policy.ratelimit import Decision

from . import context, decide, fanout, targets
from .transitions import Pass, Transition


def refused(runbook: access.LoadedRunbook) -> access.Refused | None:
    """A fanned-out step with an action that cannot fan out (the CRD's rule, kept for recorded snapshots)."""
    for step in runbook.spec.steps:
        if step.fan_out is not None and step.action not in FANOUT_ACTIONS:
            which = ", ".join(FANOUT_ACTIONS)
            return access.Refused("FanOutNotSupported", f"{step.action} cannot fan out: only {which} can")
    return None


def members(
    clients: Clients, runbook: access.LoadedRunbook, fan: FanOut, namespace: str, operator_namespace: str
) -> list[TargetRef]:
    """The objects of the set, in the namespaces the runbook may act in for a Remediation in ``namespace``."""
    spec = runbook.spec
    tenant_only = not runbook.cluster_scoped or (namespace != operator_namespace and spec.target.namespaces is None)
    if tenant_only:
        where = {namespace}
    else:
        known = {ns.metadata.name: dict(ns.metadata.labels or {}) for ns in KINDS["Namespace"].list(clients)}
        where = {
            name
            for name in known
            if scope.refusal(runbook.kind, runbook.name, spec, name, name, namespace, operator_namespace, known.get)
            is None
        }
    query = to_query(fan.selector.dump())
    found: list[TargetRef] = []
    for kind in fan.kinds:
        listed = []
        if len(where) == 1:
            listed = KINDS[kind].list(clients, next(iter(where)), label_selector=query)
        elif where:
            listed = [o for o in KINDS[kind].list(clients, None, label_selector=query) if o.metadata.namespace in where]
        for obj in listed:
            if obj.metadata.deletion_timestamp is None:
                found.append(
                    TargetRef(
                        api_version=api_version(kind),
                        kind=kind,
                        name=obj.metadata.name,
                        namespace=obj.metadata.namespace,
                    )
                )
    return found


def _reread(clients: Clients, t: TargetProgress) -> Target:
    ref = t.target
    return targets.reread(
        clients, ResolvedTarget(api_version=ref.api_version, kind=ref.kind, name=ref.name, namespace=ref.namespace)
    )


class _Run:
    """One pass over one fanned-out step."""

    def __init__(
        self,
        clients: Clients,
        operator_namespace: str,
        rem: dict[str, Any],
        spec: RemediationSpec,
        status: RemediationStatus,
        step: Step,
        index: int,
        now: datetime,
    ) -> None:
        self.clients, self.operator_namespace = clients, operator_namespace
        self.rem, self.spec, self.status, self.step, self.index, self.now = rem, spec, status, step, index, now
        self.action = REGISTRY[step.action]
        self.loaded = context.loaded(spec, status)
        self.events: list[str] = []

    def _context(self, target: Target, t: TargetProgress, dry_run: bool) -> Context:
        """The action's Context on one target; inherited when its intent was recorded under another leadership."""
        inherited = t.leadership is not None and t.leadership != fencing.current().epoch  # fencing hook
        return context.acting_on(self.clients, self.rem, self.spec, self.status, self.index, target, dry_run, inherited)

    def plan(self, t: TargetProgress, dry_run: bool) -> TargetProgress:
        ref = t.target
        obj_ref = ObjectRef(api_version=ref.api_version, kind=ref.kind, name=ref.name, namespace=ref.namespace)
        meta = self.rem["metadata"]
        try:
            target = context.resolve(
                self.clients, obj_ref, self.step, self.loaded, meta["namespace"], self.operator_namespace
            )
            ctx = self._context(target, t, dry_run)
            plan = self.action.plan(ctx, self.step.params)
        except (ActionFailed, access.Refused) as exc:
            return fanout.plan_failed(t, exc.reason, str(exc), self.now)
        resolved = TargetRef(
            api_version=target.api_version, kind=target.kind, name=target.name, namespace=target.namespace
        )
        timeout = parse_duration(self.step.timeout)
        epoch = fencing.current().epoch  # fencing hook: each target's intent carries its leadership
        return fanout.planned(t, plan.summary, dict(plan.changes), resolved, self.now, timeout, epoch, dry_run)

    def apply(self, t: TargetProgress) -> tuple[TargetProgress, float]:
        check = decide.check_of(self.step, self.action.default_check)
        verify_timeout = None if check is None else parse_duration(decide.verify_timeout(self.step))
        target = _reread(self.clients, t)
        ctx = self._context(target, t, False)
        try:
            fencing.current().check(f"{self.step.action} of {target.describe()}")  # fencing hook
            outcome = self.action.apply(ctx, self.step.params, Plan(t.plan, t.changes))
        except (ActionFailed, access.Refused) as exc:
            return fanout.applied(t, None, self.now, verify_timeout, failure=(exc.reason, str(exc)))
        except ApiException as exc:
            if exc.status in targets.REJECTED:
                return fanout.applied(t, None, self.now, verify_timeout, failure=("Rejected", targets.api_message(exc)))
            return fanout.applied(t, None, self.now, verify_timeout, transient=targets.api_message(exc))
        after, delay = fanout.applied(t, outcome, self.now, verify_timeout)
        if after.phase != "Applying":
            self.events.append(f"{target.describe()}: {outcome.message}")
        return after, delay

    def verify(self, t: TargetProgress) -> TargetProgress:
        check = decide.check_of(self.step, self.action.default_check) or "None"
        target = _reread(self.clients, t)
        ctx = self._context(target, t, False)
        try:
            ok, detail = self.action.verify(ctx, self.step.params, Plan(t.plan, t.changes), check)
        except ApiException as exc:
            ok, detail = False, targets.api_message(exc)
        stable_for = parse_duration(self.step.verify.stable_for if self.step.verify else "0s")
        return fanout.verified(t, check, ok, detail, self.now, stable_for)


def admit(
    gate: Gate, rem: dict[str, Any], spec: RemediationSpec, status: RemediationStatus, members: Sequence[TargetRef]
) -> Decision | None:
    """The set admitted by the rate-limit budget, one entry per target, all or none; None when the Remediation
    spends no budget (``decide.needs_admission``: a person's own fix, a dry run)."""
    namespace = rem["metadata"]["namespace"]
    loaded = context.loaded(spec, status)
    if not decide.needs_admission(spec, loaded, namespace, gate.operator_namespace):
        return None
    also = tuple((m.describe(), m.namespace or "") for m in members)
    try:
        return gate.admit(rem, loaded, access.target_ref(spec, namespace), also)
    except access.Refused as refused:
        return Decision(False, refused.phase, refused.reason, str(refused))


def drive(
    gate: Gate,
    rem: dict[str, Any],
    spec: RemediationSpec,
    status: RemediationStatus,
    runbook: RunbookSpec,
    move: decide.PlanStep | decide.ApplyStep | decide.VerifyStep,
    now: datetime,
) -> Transition:
    """One pass of a fanned-out step: the set resolved (first pass), then this pass's targets moved on."""
    clients, operator_namespace = gate.clients, gate.operator_namespace
    step = move.step
    fan = step.fan_out
    assert fan is not None
    p = Pass.of(status, rem)
    run: _Run
    if isinstance(move, decide.PlanStep):
        index = move.index
        record = StepRecord(index=index, name=step.record_name, action=step.action, phase="Applying", started_at=now)
        run = _Run(clients, operator_namespace, rem, spec, status, step, index, now)
        try:
            found = members(clients, run.loaded, fan, rem["metadata"]["namespace"], operator_namespace)
        except access.Refused as exc:
            return p.step_failed(runbook, record, exc.reason, str(exc), now)
        if not found:
            return p.step_failed(runbook, record, "NoTargets", f"no {'/'.join(fan.kinds)} matches fanOut.selector", now)
        if len(found) > MAX_TARGETS:
            return p.step_failed(
                runbook,
                record,
                "TooManyTargets",
                f"{len(found)} objects match fanOut.selector (at most {MAX_TARGETS})",
                now,
            )
        progress = fanout.new_set(found)
        if not move.dry_run:
            decision = admit(gate, rem, spec, status, [t.target for t in progress])
            if decision is not None and not decision.admitted:
                return p.finish(decision.phase, decision.reason, decision.message, now)
        if move.dry_run:
            progress = [run.plan(t, dry_run=True) for t in progress]
            record.targets = progress
            planned = [t.plan for t in progress if t.phase == "DryRun"]
            record.plan = f"{len(planned)} of {len(progress)} targets: " + "; ".join(planned)
            ok, message = fanout.finished(progress, fan) or (True, "")
            if not ok:  # the plans alone already exceed maxErrors: the real run would fail
                return p.step_failed(runbook, record, "MaxErrorsExceeded", f"dry run: {message}", now)
            record.phase, record.finished_at = "DryRun", now
            record.message = f"dry run: would {record.plan}"[:2048]
            p.status.steps = [*p.status.steps[:index], record]
            return p.advance(runbook, record, now)
    else:
        index = move.record.index
        record = p.record(move.record)
        run = _Run(clients, operator_namespace, rem, spec, status, step, index, now)
        progress = list(record.targets)
    before = [t.dump() for t in progress]
    work = fanout.schedule(progress, fan, now)
    delays: list[float] = []
    for i in work.expire:
        progress[i] = fanout.expired(progress[i], step.timeout, now)
    for i in work.verify:
        progress[i] = run.verify(progress[i])
        delays.append(fanout.VERIFY_POLL)
    for i in work.apply:
        progress[i], delay = run.apply(progress[i])
        delays.append(delay)
    for i in work.start:
        progress[i] = run.plan(progress[i], dry_run=False)
        delays.append(0.0)
    progress = fanout.skip_rest(progress, fan, now)
    record.targets = progress
    for said in run.events:
        p.emit("ActionApplied", f"step {index + 1} ({step.action}) fan-out: {said}")
    # The first target applied is when the Remediation first acted (the detect-to-act metric).
    acted_before = any(d.get("phase") in ("Verifying", "Succeeded") for d in before)
    p.acted = index == 0 and bool(run.events) and not acted_before
    done = fanout.finished(progress, fan)
    if done is not None:
        ok, message = done
        record.message = message
        if ok:
            return p.step_succeeded(runbook, record, now)
        return p.step_failed(runbook, record, "MaxErrorsExceeded", message, now)
    if not isinstance(move, decide.PlanStep) and [t.dump() for t in progress] == before:
        return Transition(None, min(delays, default=fanout.VERIFY_POLL))  # nothing new: no write
    final = sum(1 for t in progress if t.phase in ("Succeeded", "Failed", "Skipped"))
    record.message = f"fan-out: {final} of {len(progress)} targets done"
    p.status.steps = [*p.status.steps[:index], record]
    p.status.phase = "Running"
    p.status.message = f"step {index + 1}/{len(runbook.steps)} ({step.action}): {record.message}"
    return p.done(min(delays, default=fanout.VERIFY_POLL))
