"""What follows a finished step (engine.transitions): plain logic, every mode and outcome."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from paramedic.api.remediation import StepRecord
from paramedic.engine.transitions import Finish, Next, after_step


def record(index: int, phase: str, reason: str = "", plan: str = "") -> StepRecord:
    return StepRecord.model_validate(
        {
            "index": index,
            "action": "deletePod",
            "phase": phase,
            "startedAt": "2026-11-25T10:00:00Z",
            "message": "done",
            "reason": reason,
            "plan": plan,
        }
    )


@given(
    st.sampled_from(["AllInOrder", "UntilVerified"]),
    st.lists(st.sampled_from(["Succeeded", "Failed"]), min_size=1, max_size=6),
)
def test_running_a_runbook_to_its_end(mode: str, outcomes: list[str]) -> None:
    """Walk the steps as the engine would: it ends exactly where the mode says, never past the last step."""
    history: list[StepRecord] = []
    for index, phase in enumerate(outcomes):
        history.append(record(index, phase))
        outcome = after_step(mode, len(outcomes), history[-1], history)
        if isinstance(outcome, Finish):
            break
        assert outcome.step == index + 1 < len(outcomes)
    else:
        raise AssertionError("the last step always ends the Remediation")
    assert isinstance(outcome, Finish)
    first_failure = outcomes.index("Failed") if "Failed" in outcomes else None
    first_success = outcomes.index("Succeeded") if "Succeeded" in outcomes else None
    if mode == "AllInOrder":
        expected = ("Failed", first_failure) if first_failure is not None else ("Succeeded", len(outcomes) - 1)
    else:
        expected = ("Succeeded", first_success) if first_success is not None else ("Failed", len(outcomes) - 1)
    assert (outcome.phase, index) == expected
    assert outcome.message.startswith(f"step {index + 1} (deletePod)")


def test_a_failed_step_keeps_its_reason_and_until_verified_says_the_steps_ran_out() -> None:
    failed = after_step("UntilVerified", 1, record(0, "Failed", reason="OwnedByHPA"), [])
    assert failed == Finish("Failed", "OwnedByHPA", "step 1 (deletePod) failed (steps exhausted): done")
    assert after_step("AllInOrder", 2, record(0, "Failed"), []).reason == "StepFailed"  # type: ignore[union-attr]


def test_a_dry_run_plans_every_step_then_summarizes_the_plans() -> None:
    history = [record(0, "DryRun", plan="delete pod a"), record(1, "DryRun", plan="scale to 3")]
    assert after_step("AllInOrder", 2, history[0], history[:1]) == Next(1, "step 1 dryrun; next: step 2")
    assert after_step("UntilVerified", 2, history[1], history) == Finish(
        "DryRun", "DryRun", "dry run, nothing changed: delete pod a; scale to 3"
    )
