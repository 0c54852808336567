"""The engine's reconcile as a decision (engine.decide): every phase transition without a cluster.

The driver's I/O is replaced by what it would have observed (a plan, an
apply result, a verification, an admission decision, a verdict); the clock
is an argument. The hypothesis test drives whole Remediations through random
observations and clock steps and checks the invariants the driver relies on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from paramedic.actions.base import Done, InProgress
from paramedic.api.policies import EscalationPolicySpec
from paramedic.api.remediation import TERMINAL_PHASES, RemediationSpec, RemediationStatus, ResolvedTarget
from paramedic.api.runbook import RunbookSpec
from paramedic.engine import decide
from paramedic.engine.transitions import Transition
from paramedic.policy.access import LoadedRunbook
from paramedic.policy.approvals import Verdict
from paramedic.policy.ratelimit import ADMIT, Decision

T0 = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
TRIGGER = {"podCrashLoop": {}}
TARGET = ResolvedTarget(api_version="apps/v1", kind="Deployment", name="web", namespace="shop")


def runbook(steps: int = 1, **extra: Any) -> RunbookSpec:
    step = {"rolloutRestart": {}, "verify": {"check": "RolloutComplete", "timeout": "1m"}, "timeout": "30s"}
    return RunbookSpec.model_validate({"trigger": TRIGGER, "steps": [step] * steps, **extra})


def rem(**spec: Any) -> dict[str, Any]:
    body = {"runbookRef": {"name": "restart"}, "target": {"kind": "Pod", "name": "web-1"}, **spec}
    return {"metadata": {"name": "r", "namespace": "shop", "uid": "u", "generation": 1}, "spec": body}


def spec_of(body: dict[str, Any]) -> RemediationSpec:
    return RemediationSpec.model_validate(body["spec"])


def accepted(book: RunbookSpec, body: dict[str, Any] | None = None, admission: Decision | None = ADMIT) -> Transition:
    body = body or rem()
    loaded = LoadedRunbook("Runbook", "restart", 3, book)
    return decide.accept(body, spec_of(body), RemediationStatus(), loaded, "Pod/shop/web-1", "seal", admission, T0)


def running(book: RunbookSpec) -> RemediationStatus:
    status = accepted(book).status
    assert status is not None
    return status


def planned_status(book: RunbookSpec, now: datetime = T0) -> RemediationStatus:
    status = running(book)
    move = decide.route(rem(), spec_of(rem()), status, book, now)
    assert isinstance(move, decide.PlanStep)
    t = decide.planned(rem(), status, book, move, decide.Planned("restart web", {"from": 1}, TARGET), now)
    assert t.status is not None
    return t.status


# -- route ----------------------------------------------------------------------------


def test_route_follows_the_recorded_status() -> None:
    book = runbook()
    spec = spec_of(rem())
    assert isinstance(decide.route(rem(), spec, RemediationStatus(), None, T0), decide.Accept)
    waiting = RemediationStatus(phase="AwaitingApproval", started_at=T0)
    assert isinstance(decide.route(rem(), spec, waiting, None, T0), decide.AwaitApproval)
    assert decide.route(rem(), spec, running(book), book, T0) == decide.PlanStep(book.steps[0], 0, False)
    status = planned_status(book)
    move = decide.route(rem(), spec, status, book, T0 + timedelta(seconds=29))
    assert isinstance(move, decide.ApplyStep)
    assert move.record.phase == "Applying"


def test_an_applying_step_past_its_deadline_fails_without_being_applied() -> None:
    book = runbook()
    status = planned_status(book)
    t = decide.route(rem(), spec_of(rem()), status, book, T0 + timedelta(seconds=30))
    assert isinstance(t, Transition)
    assert t.status is not None
    assert t.status.steps[0].phase == "Failed"
    assert t.status.steps[0].reason == "Timeout"
    assert t.status.steps[0].attempts == 0
    assert t.status.phase == "Failed"
    assert t.requeue is None
    assert t.ended == ("Failed", "Timeout")
    assert {c.observed_generation for c in t.status.conditions} == {1}, "the conditions name the generation"


def test_a_finished_step_without_its_successor_advances() -> None:
    """Killed between recording a step's outcome and the next step: the next pass records what follows."""
    book = runbook(steps=2, mode="UntilVerified")
    status = planned_status(book)
    status.steps[0].phase = "Failed"
    t = decide.route(rem(), spec_of(rem()), status, book, T0)
    assert isinstance(t, Transition)
    assert t.status is not None
    assert t.status.current_step == 1
    assert t.status.phase == "Running"
    assert t.requeue == 0.0


# -- accept ---------------------------------------------------------------------------


def test_accepting_records_the_snapshot_and_runs() -> None:
    book = runbook(steps=2)
    t = accepted(book)
    assert t.status is not None
    assert t.status.phase == "Running"
    assert t.status.started_at == T0
    assert t.status.runbook_generation == 3
    assert t.status.runbook_digest == "seal"
    assert t.status.runbook_spec == book.dump()
    assert [(c.type, c.status) for c in t.status.conditions] == [("Accepted", "True")]
    assert t.requeue == 0.0
    assert t.events == ()


def test_a_refused_admission_ends_the_remediation_with_its_reason() -> None:
    refusal = Decision(False, "RateLimited", "RateLimitWindow", "3 in 1h", escalate=False)
    t = accepted(runbook(), admission=refusal)
    assert t.status is not None
    assert t.status.phase == "RateLimited"
    assert t.requeue is None
    assert t.ended == ("RateLimited", "RateLimitWindow")
    assert t.escalate == "RateLimited"
    assert t.status.started_at == T0 == t.status.finished_at
    assert [e.reason for e in t.events] == ["RateLimited"]
    assert t.events[0].warning


def test_a_runbook_that_requires_approval_waits_unless_it_is_a_dry_run() -> None:
    book = runbook(requiresApproval=True, approvers={"users": ["alice"]})
    t = accepted(book)
    assert t.status is not None
    assert t.status.phase == "AwaitingApproval"
    assert t.requeue == decide.APPROVAL_POLL
    assert [e.reason for e in t.events] == ["AwaitingApproval"]
    assert t.status.approval is not None
    assert t.status.approval.approvers is not None
    dry = accepted(book, rem(dryRun=True))
    assert dry.status is not None
    assert dry.status.phase == "Running"


# -- approval -------------------------------------------------------------------------


def test_waiting_for_approval() -> None:
    book = runbook(requiresApproval=True, approvers={"users": ["alice"]})
    status = accepted(book).status
    assert status is not None
    body = rem(approved=True, approvedBy="bob")
    quiet = decide.awaiting(body, spec_of(rem()), status, None, T0)
    assert quiet.status is None
    assert quiet.escalate == "ApprovalTimeout"
    assert quiet.requeue == decide.APPROVAL_POLL

    refused = Verdict(False, "NotAnApprover", "bob is not an approver")
    said = decide.awaiting(body, spec_of(body), status, refused, T0)
    assert said.status is not None
    assert [e.reason for e in said.events] == ["NotAnApprover"]
    again = decide.awaiting(body, spec_of(body), said.status, refused, T0)
    assert again.status is None, "a refusal is said once"
    assert again.events == ()

    body = rem(approved=True, approvedBy="alice")
    ok = decide.awaiting(body, spec_of(body), said.status, Verdict(True, "Approved", "approved by alice"), T0)
    assert ok.status is not None
    assert ok.status.phase == "Running"
    assert ok.requeue == 0.0
    assert ok.status.approval is not None
    assert ok.status.approval.approved_by == "alice"
    assert ok.status.approval.approved_at == T0


# -- one step -------------------------------------------------------------------------


def test_planning_records_the_intent_with_a_deadline() -> None:
    status = planned_status(runbook())
    record = status.steps[0]
    assert record.phase == "Applying"
    assert record.plan == "restart web"
    assert record.attempts == 0
    assert record.deadline == T0 + timedelta(seconds=30)
    assert status.resolved_target == TARGET


def test_a_dry_run_records_what_it_would_do_and_ends() -> None:
    book = runbook()
    status = running(book)
    move = decide.PlanStep(book.steps[0], 0, True)
    t = decide.planned(rem(), status, book, move, decide.Planned("restart web", {}, TARGET, provider="ok"), T0)
    assert t.status is not None
    assert t.status.phase == "DryRun"
    assert t.requeue is None
    assert t.status.steps[0].message == "dry run: would restart web; ok"


def test_a_plan_that_fails_fails_the_step() -> None:
    book = runbook()
    move = decide.PlanStep(book.steps[0], 0, False)
    t = decide.planned(rem(), running(book), book, move, decide.Failure("OwnedByHPA", "an HPA owns it"), T0)
    assert t.status is not None
    assert t.status.phase == "Failed"
    assert t.status.steps[0].reason == "OwnedByHPA"
    assert [e.reason for e in t.events] == ["OwnedByHPA", "Failed"]


def apply(status: RemediationStatus, book: RunbookSpec, outcome: Any, now: datetime = T0) -> Transition:
    move = decide.route(rem(), spec_of(rem()), status, book, now)
    assert isinstance(move, decide.ApplyStep)
    return decide.applied(rem(), status, book, move, outcome, None, now)


def test_applying() -> None:
    book = runbook()
    status = planned_status(book)
    transient = apply(status, book, decide.Transient("503"))
    assert transient.status is not None
    assert transient.requeue == decide.TRANSIENT_RETRY
    assert transient.status.steps[0].attempts == 0
    assert transient.status.steps[0].phase == "Applying"

    waiting = apply(status, book, InProgress("waiting for the Job", retry_after=5.0, changes={"job": "j"}))
    assert waiting.status is not None
    assert waiting.requeue == 5.0
    assert waiting.status.steps[0].attempts == 1
    assert waiting.status.steps[0].changes == {"from": 1, "job": "j"}

    done = apply(waiting.status, book, Done("restarted"), T0 + timedelta(seconds=2))
    assert done.status is not None
    assert done.status.phase == "Verifying"
    assert done.acted
    assert done.status.steps[0].attempts == 2
    assert done.status.steps[0].deadline == T0 + timedelta(seconds=62)
    assert [(e.reason, e.on_target) for e in done.events] == [("ActionApplied", True)]

    failed = apply(status, book, decide.Failure("Rejected", "422"))
    assert failed.status is not None
    assert failed.status.phase == "Failed"
    assert failed.status.steps[0].attempts == 1


def test_verifying() -> None:
    book = RunbookSpec.model_validate(
        {
            "trigger": TRIGGER,
            "steps": [
                {"rolloutRestart": {}, "verify": {"check": "RolloutComplete", "stableFor": "10s", "timeout": "1m"}}
            ],
        }
    )
    status = planned_status(book)
    done = apply(status, book, Done("restarted"), T0)
    assert done.status is not None
    move = decide.route(rem(), spec_of(rem()), done.status, book, T0)
    assert isinstance(move, decide.VerifyStep)
    first = decide.verified(rem(), done.status, book, move, "RolloutComplete", True, "3/3", T0 + timedelta(seconds=1))
    assert first.status is not None
    assert first.status.steps[0].verified_since == T0 + timedelta(seconds=1)
    move = decide.VerifyStep(move.step, first.status.steps[0])
    same = decide.verified(rem(), first.status, book, move, "RolloutComplete", True, "3/3", T0 + timedelta(seconds=5))
    assert same.status is None, "nothing new: no write"
    assert same.requeue == decide.VERIFY_POLL
    held = decide.verified(rem(), first.status, book, move, "RolloutComplete", True, "3/3", T0 + timedelta(seconds=11))
    assert held.status is not None
    assert held.status.phase == "Succeeded"
    assert held.requeue is None
    late = decide.verified(rem(), first.status, book, move, "RolloutComplete", False, "1/3", T0 + timedelta(minutes=2))
    assert late.status is not None
    assert late.status.steps[0].reason == "VerificationFailed"
    assert late.escalate == "VerificationFailed"


# -- escalation -----------------------------------------------------------------------


def test_escalation_follows_the_policy() -> None:
    policy = EscalationPolicySpec.model_validate(
        {
            "levels": [{"name": "oncall", "channels": [{"name": "p", "webhook": {"name": "s", "key": "k"}}]}],
            "escalateOn": ["ApprovalTimeout", "StepsExhausted"],
            "approvalTimeout": "10m",
        }
    )
    status = RemediationStatus(phase="AwaitingApproval", started_at=T0)
    assert decide.escalation(status, "VerificationFailed", "ops/p", policy, T0) is None
    assert decide.escalation(status, "ApprovalTimeout", "ops/p", policy, T0 + timedelta(minutes=9)) is None
    started = decide.escalation(status, "ApprovalTimeout", "ops/p", policy, T0 + timedelta(minutes=10))
    assert started is not None
    assert started.started_at == T0
    assert started.policy == "ops/p"
    status.escalation = started
    assert decide.escalation(status, "StepsExhausted", "ops/p", policy, T0) is None, "one escalation"


# -- times ----------------------------------------------------------------------------


def test_status_written_by_an_older_operator_loads_and_writes_back_the_same() -> None:
    wire = {
        "phase": "Verifying",
        "startedAt": "2026-11-25T10:00:00Z",
        "steps": [
            {
                "index": 0,
                "action": "rolloutRestart",
                "phase": "Verifying",
                "startedAt": "2026-11-25T10:00:00Z",
                "deadline": "2026-11-25T10:05:00Z",
                "verifiedSince": "2026-11-25T10:00:01Z",
            }
        ],
        "conditions": [],
    }
    status = RemediationStatus.model_validate(wire)
    assert status.started_at == T0
    assert status.steps[0].deadline == T0 + timedelta(minutes=5)
    written = status.dump()
    assert written["startedAt"] == wire["startedAt"]
    step = written["steps"][0]
    assert (step["startedAt"], step["deadline"], step["verifiedSince"]) == (
        "2026-11-25T10:00:00Z",
        "2026-11-25T10:05:00Z",
        "2026-11-25T10:00:01Z",
    )
    naive = RemediationStatus.model_validate({"startedAt": "2026-11-25T10:00:00"})
    assert naive.started_at == T0, "a time without an offset is UTC"


# -- invariants over whole runs ---------------------------------------------------------

OUTCOMES = st.sampled_from(["done", "progress", "transient", "fail"])


@settings(max_examples=150, deadline=None)
@given(
    steps=st.integers(1, 4),
    mode=st.sampled_from(["AllInOrder", "UntilVerified"]),
    approval=st.booleans(),
    dry_run=st.booleans(),
    events=st.lists(
        st.tuples(OUTCOMES, st.booleans(), st.integers(0, 90), st.sampled_from([None, True, False])),
        min_size=1,
        max_size=60,
    ),
)
def test_no_run_applies_a_finished_step_or_leaves_a_final_phase(
    steps: int,
    mode: str,
    approval: bool,
    dry_run: bool,
    events: list[tuple[str, bool, int, bool | None]],
) -> None:
    """Drive a Remediation with random observations and clock steps, as the driver would (the status each
    transition writes is the next pass's input). Whatever happens: a step whose apply returned Done is never
    applied again, a final phase is never left, steps and attempts only grow, and a recorded step outcome
    never changes."""
    extra = {"requiresApproval": True, "approvers": {"users": ["alice"]}} if approval else {}
    book = runbook(steps=steps, mode=mode, **extra)
    body = rem(dryRun=dry_run)
    spec = spec_of(body)
    t = accepted(book, body)
    assert t.status is not None
    status, now = t.status, T0
    done_steps: set[int] = set()
    finished: dict[int, Any] = {}
    for outcome, ok, seconds, verdict in events:
        now += timedelta(seconds=seconds)
        if status.phase in TERMINAL_PHASES:
            break
        before = status
        move = decide.route(body, spec, status, book, now)
        if isinstance(move, decide.AwaitApproval):
            judged = None if verdict is None else Verdict(verdict, "Approved" if verdict else "NotAnApprover", "v")
            t = decide.awaiting(body, spec, status, judged, now)
        elif isinstance(move, decide.PlanStep):
            planned = decide.Planned("p", {}, TARGET) if outcome != "fail" else decide.Failure("NotFound", "gone")
            t = decide.planned(body, status, book, move, planned, now)
        elif isinstance(move, decide.ApplyStep):
            assert move.record.index not in done_steps, "a step applied again after Done"
            result = {
                "done": Done("ok"),
                "progress": InProgress("wait"),
                "transient": decide.Transient("503"),
                "fail": decide.Failure("Rejected", "422"),
            }[outcome]
            if outcome == "done":
                done_steps.add(move.record.index)
            t = decide.applied(body, status, book, move, result, None, now)
        elif isinstance(move, decide.VerifyStep):
            t = decide.verified(body, status, book, move, "RolloutComplete", ok, "d", now)
        else:
            assert isinstance(move, Transition)
            t = move
        status = t.status or status
        assert (t.requeue is None) == (status.phase in TERMINAL_PHASES)
        assert status.started_at == before.started_at
        assert status.current_step >= before.current_step
        assert len(status.steps) >= len(before.steps)
        for old, new in zip(before.steps, status.steps, strict=False):
            assert new.attempts >= old.attempts
        for record in status.steps:
            if record.phase in ("Succeeded", "Failed", "DryRun"):
                assert finished.setdefault(record.index, record) == record, "a recorded outcome changed"
        if status.phase in TERMINAL_PHASES:
            assert status.finished_at == now
            assert t.ended is not None
            assert t.ended[0] == status.phase


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    from paramedic.records.status import set_condition

    first = set_condition([], "Ready", False, "Waiting", "a", 1, at=T0)
    later = set_condition(first, "Ready", False, "StillWaiting", "b", 1, at=T0 + timedelta(hours=1))
    assert later[0].last_transition_time == T0
    assert later[0].reason == "StillWaiting"
    flipped = set_condition(later, "Ready", True, "Succeeded", "c", 1, at=T0 + timedelta(hours=2))
    assert flipped[0].dump()["lastTransitionTime"] == "2026-11-25T12:00:00Z"


def test_steps_a_runbook_may_not_run() -> None:
    drain = {"drain": {}}
    tenant = RunbookSpec.model_validate({"trigger": TRIGGER, "steps": [{"rolloutRestart": {}}]})
    assert decide.steps_refused(LoadedRunbook("Runbook", "ok", 1, tenant)) is None
    from paramedic.api.runbook import ClusterRunbookSpec

    nodes = ClusterRunbookSpec.model_validate({"trigger": TRIGGER, "steps": [drain]})
    refused = decide.steps_refused(LoadedRunbook("ClusterRunbook", "nodes", 1, nodes))
    assert refused is not None
    assert refused.reason == "TargetNotAccepted"
    with_node = ClusterRunbookSpec.model_validate({"trigger": TRIGGER, "target": {"kinds": ["Node"]}, "steps": [drain]})
    assert decide.steps_refused(LoadedRunbook("ClusterRunbook", "nodes", 1, with_node)) is None
    as_tenant = decide.steps_refused(LoadedRunbook("Runbook", "nodes", 1, with_node))
    assert as_tenant is not None
    assert as_tenant.reason == "ClusterRunbookRequired"
