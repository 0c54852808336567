"""Branching on what was found: a step's ``when:`` condition, decided from the recorded status alone. Pure.

Before a step is planned, ``skip`` evaluates its CEL condition (compiled and
bounded by ``api.celwhen``) over an activation built from the Remediation's
plain status and spec dicts (so it depends on no evidence model):

- ``evidence.<name>``: the latest record of each collector, as
  ``{"ok": outcome == "Collected", "outcome", "error", "excerpt", **values}``;
- ``metrics.<name>``: the ``value`` of the latest ``promql`` record of that
  name, as a double (absent when its result was empty or it failed);
- ``target``: ``kind``, ``name``, ``namespace`` of the Remediation's target;
- ``trigger``: ``kind`` and the trigger's evidence labels (``evidence``).

A condition that holds lets the step be planned as usual. One that does not,
or that cannot be evaluated (a collector that has no record: guard with
``has()``; a type error), ends the step as ``Skipped`` with the values it
referenced (or the error) in its message, and the engine moves on exactly as
after any finished step (``transitions.after_step``). Evaluation runs in the
engine's pass, which the driver runs in its thread pool, never on the event
loop; its cost is bounded by the expression's bounds.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from paramedic.api.celwhen import program
from paramedic.api.evidence import latest
from paramedic.api.remediation import RemediationStatus, StepRecord
from paramedic.api.runbook import RunbookSpec, Step

from .transitions import Pass, Transition

#: Characters of a value shown in a Skipped step's message, and of the whole message.
SHOWN_VALUE = 120
MESSAGE_MAX = 1024

_REFERENCE = re.compile(r"\b(evidence|metrics|target|trigger)((?:\s*\.\s*[A-Za-z_]\w*){1,2})")


@dataclasses.dataclass(frozen=True)
class Judgement:
    holds: bool
    #: What the condition saw (or why it could not be evaluated), for the step's record.
    message: str
    error: bool = False


def activation(status: Mapping[str, Any], spec: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """The variables a condition reads, from the Remediation's status and spec as written on the wire."""
    evidence: dict[str, dict[str, Any]] = {}
    metrics: dict[str, float] = {}
    for name, record in latest(status.get("evidence") or []).items():
        values = record.get("values")
        values = values if isinstance(values, Mapping) else {}
        outcome = str(record.get("outcome") or "")
        evidence[name] = {
            **{str(k): v for k, v in values.items() if isinstance(v, str | int | float | bool)},
            "ok": outcome == "Collected",
            "outcome": outcome,
            "error": str(record.get("error") or ""),
            "excerpt": str(record.get("excerpt") or ""),
        }
        value = values.get("value")
        promql = record.get("kind") == "promql" and outcome == "Collected"
        if promql and isinstance(value, int | float) and not isinstance(value, bool):
            metrics[name] = float(value)
    target = spec.get("target") or {}
    trigger = spec.get("trigger") or {}
    return {
        "evidence": evidence,
        "metrics": metrics,
        "target": {
            "kind": str(target.get("kind") or ""),
            "name": str(target.get("name") or ""),
            "namespace": str(target.get("namespace") or ("" if target.get("kind") == "Node" else namespace)),
        },
        "trigger": {
            "kind": str(trigger.get("kind") or "manual"),
            "evidence": {str(k): str(v) for k, v in (trigger.get("evidence") or {}).items()},
        },
    }


def _seen(expression: str, variables: Mapping[str, Any]) -> str:
    """The values the expression references, as name=value (``absent`` for what is not there)."""
    shown: dict[str, str] = {}
    for root, path in _REFERENCE.findall(expression):
        names = [p.strip() for p in path.split(".") if p.strip()]
        if root == "metrics" or root == "target":
            names = names[:1]
        value: Any = variables[root]
        for name in names:
            value = value.get(name) if isinstance(value, Mapping) else None
            if value is None:
                break
        key = ".".join([root, *names])
        if isinstance(value, Mapping):
            continue  # a whole record: its fields are shown where they are referenced
        text = "absent" if value is None else repr(value) if isinstance(value, str) else str(value).lower()
        shown[key] = text[:SHOWN_VALUE]
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or "no evidence referenced"


def judge(expression: str, variables: Mapping[str, Any]) -> Judgement:
    """Whether the condition holds over ``variables``; never raises."""
    seen = _seen(expression, variables)
    try:
        result = program(expression).execute(dict(variables))
    except Exception as exc:  # a parse error (a snapshot from an older model), a missing key, a type error
        return Judgement(False, f"when could not be evaluated ({str(exc)[:300]}); saw {seen}", error=True)
    if not isinstance(result, bool):
        return Judgement(False, f"when gave {type(result).__name__}, not a bool; saw {seen}", error=True)
    return Judgement(result, f"when {'holds' if result else 'does not hold'}: {seen}")


def skip(
    rem: Mapping[str, Any],
    status: RemediationStatus,
    runbook: RunbookSpec,
    step: Step,
    index: int,
    now: datetime,
) -> Transition | None:
    """The step ends Skipped (and the next one follows) when its condition does not hold; None: plan it."""
    if step.when is None:
        return None
    plain = status.model_dump(by_alias=True, mode="json", include={"evidence"})
    spec = rem.get("spec") or {}
    judgement = judge(step.when, activation(plain, spec, (rem.get("metadata") or {}).get("namespace") or ""))
    if judgement.holds:
        return None
    p = Pass.of(status, rem)
    record = StepRecord(
        index=index,
        name=step.record_name,
        action=step.action,
        phase="Skipped",
        started_at=now,
        finished_at=now,
        reason="WhenFailed" if judgement.error else "WhenNotMet",
        message=judgement.message[:MESSAGE_MAX],
    )
    p.status.steps = [*p.status.steps[:index], record]
    p.emit("StepSkipped", f"step {index + 1} ({step.action}) skipped: {record.message}")
    return p.advance(runbook, record, now)
