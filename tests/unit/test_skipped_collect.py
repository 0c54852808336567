"""A step whose ``when:`` does not hold and that lists collectors in ``collect``: the engine moves on (the
seed examples P0, P2 and p1-database have such steps; before, the Remediation stayed on the step, "gathering
evidence" that no gathering would ever answer)."""

from __future__ import annotations

from paramedic.api.runbook import RunbookSpec
from paramedic.engine import decide, gathering
from paramedic.engine.transitions import Transition
from tests.unit.test_when import record, route, run

CALM = [record("routerLogs", "logs", {"lines": 40, "matches": 0, "bytes": 900, "truncated": False})]


def test_a_skipped_step_that_collects_moves_on_without_gathering() -> None:
    book = RunbookSpec.model_validate(
        {
            "evidence": [{"name": "routerLogs", "logs": {}}],
            "steps": [
                {
                    "name": "db",
                    "rolloutRestart": {},
                    "when": "evidence.routerLogs.matches > 0",
                    "collect": ["routerLogs"],
                },
                {"name": "restart", "rolloutRestart": {}},
            ],
        }
    )
    t = route(book, run(book, CALM))
    assert isinstance(t, Transition)
    assert t.status is not None
    assert t.status.steps[0].phase == "Skipped"
    assert (t.status.current_step, t.status.phase) == (1, "Running")
    assert gathering.owed(book, t.status) is None
    assert isinstance(route(book, t.status), decide.PlanStep)


def test_a_skipped_last_step_that_collects_ends_the_remediation() -> None:
    book = RunbookSpec.model_validate(
        {
            "evidence": [{"name": "routerLogs", "logs": {}}],
            "steps": [{"rolloutRestart": {}, "when": "evidence.routerLogs.matches > 0", "collect": ["routerLogs"]}],
        }
    )
    t = route(book, run(book, CALM))
    assert isinstance(t, Transition)
    assert t.status is not None
    assert t.status.phase == "Succeeded"
