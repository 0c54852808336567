"""Fan-out decisions: one step over a recorded target set. Pure, no I/O; the clock is an argument.

A fanned-out step (``Step.fanOut``) records its whole target set when it is
planned (``StepRecord.targets``, sorted, every target Pending). Each pass then
works from that record alone, in the manner of SSM Automation's rate control:

- ``schedule`` says which targets this pass starts (plans: its intent is
  written before anything is applied), applies (plan recorded) and verifies,
  never letting more than ``maxConcurrency`` be in flight;
- once more than ``maxErrors`` targets failed, no new target starts: those in
  flight finish, the rest end Skipped and the step fails;
- each target goes through the same plan/apply/verify as a one-target step
  (``planned``, ``applied``, ``verified`` mirror ``decide``'s), with the step's
  timeout and verification;
- ``finished`` says whether every target reached a final phase, and how the
  step ended.

A target whose phase is final is never scheduled again, so a restarted
operator continues exactly where the record stands and acts on no finished
target twice; an unfinished one is applied again from its recorded plan
(actions are idempotent for a given plan).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta

from paramedic.actions.base import Done, InProgress
from paramedic.api.fanout import FINAL_TARGET_PHASES, FanOut, TargetProgress, TargetRef

#: After a transient error of one target.
TRANSIENT_RETRY = 3.0
#: Between looks at the targets being verified.
VERIFY_POLL = 1.0


@dataclasses.dataclass(frozen=True)
class Work:
    """What one pass does, by index into the recorded set."""

    start: tuple[int, ...] = ()
    apply: tuple[int, ...] = ()
    verify: tuple[int, ...] = ()
    #: Applying past their deadline: they fail (Timeout) without being applied again.
    expire: tuple[int, ...] = ()


def new_set(members: Sequence[TargetRef]) -> list[TargetProgress]:
    """The recorded set: sorted (kind, namespace, name), each target Pending."""
    ordered = sorted({m.describe(): m for m in members}.values(), key=lambda m: (m.kind, m.namespace or "", m.name))
    return [TargetProgress(target=m) for m in ordered]


def failed(progress: Sequence[TargetProgress]) -> int:
    return sum(1 for t in progress if t.phase == "Failed")


def stopped(progress: Sequence[TargetProgress], fan: FanOut) -> bool:
    """More targets failed than maxErrors allows: start no new one."""
    return failed(progress) > fan.errors(len(progress))


def schedule(progress: Sequence[TargetProgress], fan: FanOut, now: datetime) -> Work:
    """The targets to start, apply and verify in this pass: in-flight ones go on; new ones start, in order,
    while fewer than maxConcurrency are in flight and maxErrors is not exceeded."""
    applying = [i for i, t in enumerate(progress) if t.phase == "Applying"]
    expire = tuple(i for i in applying if (d := progress[i].deadline) is not None and d <= now)
    apply = tuple(i for i in applying if i not in expire)
    verify = tuple(i for i, t in enumerate(progress) if t.phase == "Verifying")
    room = fan.concurrency(len(progress)) - len(applying) - len(verify)
    start: tuple[int, ...] = ()
    if room > 0 and not stopped(progress, fan):
        start = tuple(i for i, t in enumerate(progress) if t.phase == "Pending")[:room]
    return Work(start, apply, verify, expire)


def skip_rest(progress: Sequence[TargetProgress], fan: FanOut, now: datetime) -> list[TargetProgress]:
    """Once maxErrors is exceeded, the targets never started end Skipped."""
    if not stopped(progress, fan):
        return list(progress)
    out = []
    for t in progress:
        if t.phase == "Pending":
            limit = fan.errors(len(progress))
            t = t.model_copy(
                update={
                    "phase": "Skipped",
                    "finished_at": now,
                    "message": f"not started: more than {limit} targets failed (maxErrors)",
                }
            )
        out.append(t)
    return out


def finished(progress: Sequence[TargetProgress], fan: FanOut) -> tuple[bool, str] | None:
    """(succeeded, message) once every target is final; None while any is not."""
    if any(t.phase not in FINAL_TARGET_PHASES for t in progress):
        return None
    count = {p: sum(1 for t in progress if t.phase == p) for p in ("Succeeded", "Failed", "Skipped", "DryRun")}
    said = ", ".join(f"{n} {p.lower()}" for p, n in count.items() if n)
    limit = fan.errors(len(progress))
    if count["Failed"] > limit:
        first = next(t for t in progress if t.phase == "Failed")
        return False, (
            f"{said} of {len(progress)} targets (maxErrors {limit}); {first.target.describe()}: {first.message}"
        )[:1024]
    return True, f"{said} of {len(progress)} targets"


# -- one target's steps ---------------------------------------------------------------------


def _final(t: TargetProgress, phase: str, message: str, now: datetime, reason: str = "") -> TargetProgress:
    return t.model_copy(
        update={
            "phase": phase,
            "message": message[:1024],
            "reason": reason[:63],
            "finished_at": now,
            "deadline": None,
        }
    )


def planned(
    t: TargetProgress,
    summary: str,
    changes: dict[str, object],
    resolved: TargetRef,
    now: datetime,
    timeout: timedelta,
    leadership: str | None,
    dry_run: bool,
) -> TargetProgress:
    """The target's intent (its plan), recorded before anything is applied; a dry run ends here."""
    t = t.model_copy(
        update={
            "target": resolved,
            "plan": summary[:1024],
            "changes": dict(changes),
            "started_at": now,
            "leadership": leadership,
        }
    )
    if dry_run:
        return _final(t, "DryRun", f"dry run: would {summary}", now)
    return t.model_copy(update={"phase": "Applying", "deadline": now + timeout, "message": f"planned: {summary}"})


def expired(t: TargetProgress, timeout: str, now: datetime) -> TargetProgress:
    return _final(t, "Failed", f"timed out after {timeout}: {t.message}", now, "Timeout")


def plan_failed(t: TargetProgress, reason: str, message: str, now: datetime) -> TargetProgress:
    return _final(t, "Failed", message, now, reason)


def applied(
    t: TargetProgress,
    outcome: Done | InProgress | None,
    now: datetime,
    verify_timeout: timedelta | None,
    failure: tuple[str, str] | None = None,
    transient: str | None = None,
) -> tuple[TargetProgress, float]:
    """What applying did to one target, and when to look again. ``verify_timeout``: None when the step
    verifies nothing; ``failure``: (reason, message); ``transient``: an error worth retrying."""
    if transient is not None:
        return t.model_copy(update={"message": f"transient error, retrying: {transient}"[:1024]}), TRANSIENT_RETRY
    t = t.model_copy(update={"attempts": t.attempts + 1})
    if failure is not None:
        return _final(t, "Failed", failure[1], now, failure[0]), 0.0
    assert outcome is not None
    t = t.model_copy(update={"message": outcome.message[:1024], "changes": {**t.changes, **outcome.changes}})
    if isinstance(outcome, InProgress):
        return t, outcome.retry_after
    if verify_timeout is None:
        return _final(t, "Succeeded", outcome.message, now), 0.0
    return t.model_copy(update={"phase": "Verifying", "deadline": now + verify_timeout}), VERIFY_POLL


def verified(
    t: TargetProgress, check: str, ok: bool, detail: str, now: datetime, stable_for: timedelta
) -> TargetProgress:
    """One look at a target's verification: it holds (for stableFor), it failed in time, or not yet."""
    since = (t.verified_since or now) if ok else None
    if since is not None and since + stable_for <= now:
        return _final(t, "Succeeded", f"verified ({check}): {detail}", now)
    if t.deadline is not None and t.deadline <= now:
        return _final(t, "Failed", f"{check} did not hold in time: {detail}", now, "VerificationFailed")
    return t.model_copy(update={"verified_since": since, "message": f"verifying {check}: {detail}"[:1024]})
