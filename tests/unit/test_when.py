"""A step's ``when:`` condition (api.celwhen, engine.when): what compiles, what it reads, and how the engine
moves on after a step whose condition does not hold. Pure, without a cluster."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from paramedic.actions import checks
from paramedic.api import celwhen
from paramedic.api.celwhen import MAX_LENGTH, problem
from paramedic.api.remediation import RemediationSpec, RemediationStatus, StepRecord
from paramedic.api.runbook import RunbookSpec
from paramedic.api.triggers import Prometheus as PrometheusTrigger
from paramedic.engine import decide, verifying, when
from paramedic.engine.transitions import Finish, Transition, after_step
from paramedic.lint import lint_document
from paramedic.outbound import Egress
from paramedic.policy.access import LoadedRunbook
from paramedic.triggers import prometheus
from tests.services import LoopbackServer, reply_json
from tests.waiting import wait_until

T0 = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)


def record(name: str, kind: str, values: dict[str, Any], outcome: str = "Collected", **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": kind, "collectedAt": "2026-11-25T10:00:00Z", "outcome": outcome, "values": values}


LOGS = record("routerLogs", "logs", {"lines": 100, "matches": 3, "bytes": 4000, "truncated": False})
RATE = record("errorRate", "promql", {"value": 0.25, "samples": 1})


def variables(*records: dict[str, Any], trigger: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"target": {"kind": "Deployment", "name": "router"}}
    if trigger is not None:
        spec["trigger"] = trigger
    return when.activation({"evidence": list(records)}, spec, "shop")


# -- the activation --------------------------------------------------------------------


def test_the_activation_follows_the_contract() -> None:
    failed = record("dbLogs", "logs", {}, outcome="TimedOut")
    failed["error"] = "timed out after 5s"
    seen = variables(LOGS, RATE, failed, trigger={"kind": "alertmanager", "evidence": {"label.severity": "page"}})
    assert seen["evidence"]["routerLogs"] == {
        "lines": 100,
        "matches": 3,
        "bytes": 4000,
        "truncated": False,
        "ok": True,
        "outcome": "Collected",
        "error": "",
        "excerpt": "",
    }
    assert seen["evidence"]["dbLogs"]["ok"] is False
    assert seen["evidence"]["dbLogs"]["error"] == "timed out after 5s"
    assert seen["metrics"] == {"errorRate": 0.25}
    assert seen["target"] == {"kind": "Deployment", "name": "router", "namespace": "shop"}
    assert seen["trigger"] == {"kind": "alertmanager", "evidence": {"label.severity": "page"}}


def test_the_latest_record_of_a_name_wins_and_an_empty_promql_result_has_no_metric() -> None:
    later = record("routerLogs", "logs", {"lines": 10, "matches": 0, "bytes": 50, "truncated": False})
    empty = record("errorRate", "promql", {"samples": 0})
    seen = variables(LOGS, RATE, later, empty)
    assert seen["evidence"]["routerLogs"]["matches"] == 0
    assert "errorRate" not in seen["metrics"]
    assert seen["evidence"]["errorRate"]["samples"] == 0


# -- judging ---------------------------------------------------------------------------


def test_the_issue_example_branches_on_the_figures() -> None:
    condition = "evidence.routerLogs.matches > 0 && metrics.errorRate > 0.10"
    holds = when.judge(condition, variables(LOGS, RATE))
    assert holds.holds
    calm = record("errorRate", "promql", {"value": 0.01, "samples": 1})
    judged = when.judge(condition, variables(LOGS, calm))
    assert not judged.holds
    assert not judged.error
    assert "evidence.routerLogs.matches=3" in judged.message
    assert "metrics.errorRate=0.01" in judged.message


def test_a_missing_collector_is_an_error_without_has_and_false_with_it() -> None:
    broken = when.judge("evidence.dbLogs.matches > 0", variables(LOGS))
    assert not broken.holds
    assert broken.error
    assert "could not be evaluated" in broken.message
    assert "evidence.dbLogs.matches=absent" in broken.message
    guarded = when.judge("has(evidence.dbLogs) && evidence.dbLogs.matches > 0", variables(LOGS))
    assert not guarded.holds
    assert not guarded.error


def test_a_condition_that_is_not_a_bool_does_not_hold() -> None:
    judged = when.judge("evidence.routerLogs.lines", variables(LOGS))
    assert not judged.holds
    assert judged.error


def test_target_and_trigger_are_readable() -> None:
    seen = variables(LOGS, trigger={"kind": "podCrashLoop", "evidence": {"restarts": "7"}})
    assert when.judge("target.name == 'router' && trigger.kind == 'podCrashLoop'", seen).holds
    assert when.judge("int(trigger.evidence['restarts']) >= 5", seen).holds


figures = st.dictionaries(
    st.from_regex(r"[a-z][a-zA-Z0-9]{0,10}", fullmatch=True),
    st.one_of(st.integers(-(2**40), 2**40), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.text()),
    max_size=6,
)


@given(
    st.lists(
        st.builds(
            record,
            st.from_regex(r"[a-z][a-zA-Z0-9]{0,8}", fullmatch=True),
            st.sampled_from(["logs", "events", "summary", "promql", "http", "aws"]),
            figures,
            st.sampled_from(["Collected", "Failed", "TimedOut"]),
        ),
        max_size=8,
    ),
    st.sampled_from(
        [
            "evidence.routerLogs.matches > 0",
            "has(evidence.routerLogs) && evidence.routerLogs.ok",
            "metrics.errorRate > 0.1",
            "evidence.a.value == 'x' || metrics.b < 2",
            "size(evidence) > 2",
        ]
    ),
)
def test_judging_never_raises_whatever_was_recorded(records: list[dict[str, Any]], condition: str) -> None:
    judged = when.judge(condition, variables(*records))
    assert isinstance(judged.holds, bool)
    assert judged.message
    assert not (judged.holds and judged.error)


# -- what may be a condition -----------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "why"),
    [
        ("evidence.routerLogs.matches >", "does not parse"),
        ("secrets.token == 'x'", "names 'secrets'"),
        ("[1,2].all(x, [1].all(y, [1].all(z, true)))", "comprehension macros"),
        ("true || " * 200 + "true", f"longer than {MAX_LENGTH}"),
    ],
)
def test_conditions_that_cannot_be_one(condition: str, why: str) -> None:
    found = problem(condition)
    assert found is not None
    assert why in found


@pytest.mark.parametrize(
    "condition",
    [
        "evidence.routerLogs.matches > 0 && metrics.errorRate > 0.10",
        "has(evidence.db) && evidence.db.excerpt.contains('connection refused')",
        "[1, 2].exists(x, x == evidence . a . lines)",
        "evidence.a.excerpt.matches(r'ERROR \\d+') && b'a' == b'a' && type(metrics.x) == double",
        "target.kind in ['Deployment', 'StatefulSet'] && trigger.evidence['label.severity'] == \"page\"",
    ],
)
def test_conditions_that_can(condition: str) -> None:
    assert problem(condition) is None


def test_compiled_conditions_are_kept_within_a_bound() -> None:
    """The texts are tenants' and every runbook edit brings new ones: the compiled programs kept stay bounded."""
    for n in range(celwhen.CACHED + 10):
        assert problem(f"trigger.kind == 'k{n}'") is None
    assert celwhen.program.cache_info().currsize <= celwhen.CACHED


def test_the_model_and_lint_refuse_a_condition_that_does_not_compile(tmp_path: Any) -> None:
    spec = {"steps": [{"rolloutRestart": {}}, {"scale": {"replicas": 2}, "when": "evidence.x.matches >"}]}
    with pytest.raises(ValidationError, match="when does not parse"):
        RunbookSpec.model_validate(spec)
    doc = {"apiVersion": "paramedic.dev/v1alpha1", "kind": "Runbook", "metadata": {"name": "r"}, "spec": spec}
    problems = lint_document("runbook.yaml", 0, doc)
    assert [p.field for p in problems] == ["spec.steps[1].when"]
    assert "does not parse" in problems[0].message


# -- the engine moves on ---------------------------------------------------------------


def rem(evidence: list[dict[str, Any]]) -> dict[str, Any]:
    spec = {"runbookRef": {"name": "r"}, "target": {"kind": "Deployment", "name": "router"}}
    return {"metadata": {"name": "x", "namespace": "shop", "uid": "u", "generation": 1}, "spec": spec}


def run(book: RunbookSpec, evidence: list[dict[str, Any]]) -> RemediationStatus:
    body = rem(evidence)
    loaded = LoadedRunbook("Runbook", "r", 1, book)
    spec = RemediationSpec.model_validate(body["spec"])
    t = decide.accept(body, spec, RemediationStatus(), loaded, "Deployment/shop/router", "seal", None, T0)
    assert t.status is not None
    status = t.status.model_copy(update={"evidence": evidence})
    return status


def branches(mode: str = "AllInOrder") -> RunbookSpec:
    return RunbookSpec.model_validate(
        {
            "mode": mode,
            "steps": [
                {"name": "db", "rdsReboot": {"dbInstanceIdentifier": "db"}, "when": "evidence.routerLogs.matches > 0"},
                {"name": "restart", "rolloutRestart": {}, "when": "evidence.routerLogs.matches == 0"},
            ],
        }
    )


def route(book: RunbookSpec, status: RemediationStatus) -> decide.Move | Transition:
    body = rem([])
    return decide.route(body, RemediationSpec.model_validate(body["spec"]), status, book, T0)


def test_an_unmet_condition_skips_the_step_with_the_values_and_plans_the_next() -> None:
    book = branches()
    calm = [record("routerLogs", "logs", {"lines": 40, "matches": 0, "bytes": 900, "truncated": False})]
    t = route(book, run(book, calm))
    assert isinstance(t, Transition)
    assert t.status is not None
    skipped = t.status.steps[0]
    assert (skipped.phase, skipped.reason) == ("Skipped", "WhenNotMet")
    assert "evidence.routerLogs.matches=0" in skipped.message
    assert t.status.current_step == 1
    assert t.status.phase == "Running"
    assert [e.reason for e in t.events] == ["StepSkipped"]
    move = route(book, t.status)
    assert isinstance(move, decide.PlanStep)
    assert move.index == 1


def test_a_met_condition_plans_the_step() -> None:
    book = branches()
    move = route(book, run(book, [LOGS]))
    assert isinstance(move, decide.PlanStep)
    assert move.index == 0


def test_an_evaluation_error_skips_the_step_and_says_why() -> None:
    book = branches()
    t = route(book, run(book, []))  # no routerLogs record at all
    assert isinstance(t, Transition)
    assert t.status is not None
    assert (t.status.steps[0].phase, t.status.steps[0].reason) == ("Skipped", "WhenFailed")
    assert "could not be evaluated" in t.status.steps[0].message


def test_a_skipped_last_step_ends_as_the_other_steps_say() -> None:
    book = branches()
    status = run(book, [LOGS]).model_copy(update={"current_step": 1})
    t = route(book, status)  # matches is 3: the restart branch does not hold
    assert isinstance(t, Transition)
    assert t.status is not None
    assert (t.status.phase, t.ended) == ("Succeeded", ("Succeeded", "Succeeded"))
    assert t.events[-1].reason == "Evidence"
    assert t.events[-1].message == "routerLogs (logs, Collected): lines=100 matches=3 bytes=4000 truncated=false"
    ladder = branches("UntilVerified")
    t = route(ladder, run(ladder, [LOGS]).model_copy(update={"current_step": 1}))
    assert isinstance(t, Transition)
    assert t.status is not None
    assert (t.status.phase, t.escalate) == ("Failed", "StepsExhausted")


def test_in_until_verified_a_skipped_step_is_not_a_failure() -> None:
    ladder = branches("UntilVerified")
    calm = [record("routerLogs", "logs", {"lines": 1, "matches": 0, "bytes": 9, "truncated": False})]
    t = route(ladder, run(ladder, calm))
    assert isinstance(t, Transition)
    assert t.status is not None
    assert t.status.phase == "Running"
    assert t.escalate is None
    assert t.ended is None


@given(
    st.sampled_from(["AllInOrder", "UntilVerified"]),
    st.lists(st.sampled_from(["Succeeded", "Failed", "Skipped"]), min_size=1, max_size=6),
)
def test_a_skipped_step_never_decides_the_outcome_unless_it_is_the_last(mode: str, outcomes: list[str]) -> None:
    """Walk the steps as the engine would, with skipped ones: the outcome is that of the steps that ran."""
    history: list[StepRecord] = []
    for index, phase in enumerate(outcomes):
        history.append(
            StepRecord.model_validate(
                {"index": index, "action": "scale", "phase": phase, "startedAt": "2026-11-25T10:00:00Z"}
            )
        )
        outcome = after_step(mode, len(outcomes), history[-1], history)
        if isinstance(outcome, Finish):
            break
        assert outcome.step == index + 1 < len(outcomes)
        assert phase == "Skipped" or (phase == "Succeeded") == (mode == "AllInOrder")
    else:
        raise AssertionError("the last step always ends the Remediation")
    ran = [p for p in outcomes[: index + 1] if p != "Skipped"]
    if mode == "AllInOrder":
        assert outcome.phase == ("Failed" if "Failed" in ran else "Succeeded")
        assert index == (outcomes.index("Failed") if "Failed" in outcomes else len(outcomes) - 1)
    else:
        assert outcome.phase == ("Succeeded" if "Succeeded" in ran else "Failed")
        assert index == (outcomes.index("Succeeded") if "Succeeded" in outcomes else len(outcomes) - 1)


# -- the PromQL verification's judgement ------------------------------------------------


def test_a_promql_condition_holds_only_on_a_non_empty_answer() -> None:
    def answer(series: list[dict[str, Any]]) -> checks.Instant:
        return lambda query: series

    def unreachable(query: str) -> list[dict[str, Any]]:
        raise RuntimeError("cannot connect to 127.0.0.1:9 (connection refused)")

    one = [{"metric": {"job": "api"}, "value": [1764064800, "0.01"]}]
    assert checks.promql("up < 0.05", answer(one)) == (True, "the query returns value 0.01")
    assert checks.promql("up < 0.05", answer(one * 3))[1] == "the query returns value 0.01 (and 2 more series)"
    assert checks.promql("up < 0.05", answer([])) == (
        False,
        "the query returns no series (the condition does not hold)",
    )
    held, said = checks.promql("up < 0.05", unreachable)
    assert not held
    assert said.startswith("query failed: cannot connect")
    held, said = checks.promql("up < 0.05", None)
    assert not held
    assert "--prometheus-url" in said


def test_check_of_names_promql_when_it_is_the_only_verification() -> None:
    book = RunbookSpec.model_validate(
        {
            "steps": [
                {"scale": {"replicas": 2}, "verify": {"check": "None", "promql": "up == 1"}},
                {"scale": {"replicas": 2}, "verify": {"promql": "up == 1"}},
                {"scale": {"replicas": 2}, "verify": {"check": "None"}},
            ]
        }
    )
    only, both, neither = book.steps
    assert decide.check_of(only, "RolloutComplete") == "PromQL"
    assert decide.check_of(both, "RolloutComplete") == "RolloutComplete"
    assert verifying.label("RolloutComplete", both) == "RolloutComplete and PromQL"
    assert decide.check_of(neither, "RolloutComplete") is None


# -- the PromQL client the engine uses (triggers.prometheus.Poller.instant_blocking) ----


class Vector(LoopbackServer):
    """A Prometheus stand-in answering every instant query with one series of ``value``."""

    def __init__(self, value: str) -> None:
        self.queries: list[str] = []
        answers = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                answers.queries.append(parse_qs(urlparse(self.path).query)["query"][0])
                body = {
                    "status": "success",
                    "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, value]}]},
                }
                reply_json(self, body)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)


def test_the_engine_asks_through_the_triggers_client_and_its_url_rules() -> None:
    """From a pool thread, on the client's event loop: the operator's URL and an allow-listed trigger url are
    asked; a tenant's url off the allow-list is refused, as for its trigger."""
    server = Vector("0.02")
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def serve() -> None:
        ready.set()
        with contextlib.suppress(asyncio.CancelledError):
            await poller.run_forever(tick=3600)

    dispatcher: Any = SimpleNamespace(acting=lambda: False, runbooks=lambda kind: [])
    poller = prometheus.Poller(dispatcher, server.url, Egress(allowed_prefixes=(server.url,), timeout=5))
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        ready.wait(5)
        wait_until(lambda: poller._loop is not None, 5, "the client's loop")
        own = PrometheusTrigger.model_validate({"query": "up", "url": server.url})
        assert poller.instant_blocking("up < 0.05", None, False, "shop")[0]["value"] == [1, "0.02"]
        assert poller.instant_blocking("rate < 1", own, False, "shop")[0]["value"] == [1, "0.02"]
        assert server.queries == ["up < 0.05", "rate < 1"]
        elsewhere = PrometheusTrigger.model_validate({"query": "up", "url": "http://127.0.0.2:9090"})
        with pytest.raises(prometheus.QueryFailed, match="not on the operator's allow-list"):
            poller.instant_blocking("up", elsewhere, False, "shop")
        metadata = PrometheusTrigger.model_validate({"query": "up", "url": "http://169.254.169.254/"})
        with pytest.raises(prometheus.QueryFailed, match="link-local or cloud metadata"):
            poller.instant_blocking("up", metadata, True, "shop")
    finally:
        for task in asyncio.all_tasks(loop):
            loop.call_soon_threadsafe(task.cancel)
        thread.join(5)
        server.close()


def test_a_dry_run_whose_last_step_is_skipped_ends_dry_run_and_pages_nobody() -> None:
    ladder = branches("UntilVerified")
    body = rem([])
    body["spec"]["dryRun"] = True
    spec = RemediationSpec.model_validate(body["spec"])
    status = run(ladder, [LOGS]).model_copy(update={"current_step": 1})
    t = decide.route(body, spec, status, ladder, T0)
    assert isinstance(t, Transition)
    assert t.status is not None
    assert (t.status.phase, t.escalate) == ("DryRun", None)
    assert t.status.message.startswith("dry run, nothing changed: every step skipped; step 2 (rolloutRestart) skipped")
