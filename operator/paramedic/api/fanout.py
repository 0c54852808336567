"""Target sets: one step fanned out over every object that matches a selector (issue #17).

``FanOut`` is what a runbook's step declares (``Step.fanOut``); ``TargetProgress``
is what the engine records for each object of the set (``StepRecord.targets``).
The set is resolved once, when the step is planned, and recorded sorted; every
later pass works from that record, so a restarted operator never recomputes a
different set nor acts twice on a target whose outcome it recorded.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from .common import LabelSelector, Model, Time

#: A set larger than this is refused (the step fails), and the status list is bounded by it.
MAX_TARGETS = 100

#: The actions a step may fan out: namespaced Kubernetes actions whose plan records absolute values and whose
#: names of what they create do not depend on the step alone (runJob names its Job after the step; the node and
#: cloud actions act on one named thing).
FANOUT_ACTIONS = ("rolloutRestart", "scale", "patchHPA", "deletePod", "rollback", "raiseMemoryLimit")

#: How many (an absolute count) or which share of the set (a percentage), in the manner of SSM Automation.
_SHARE = Annotated[str, StringConstraints(pattern=r"^([0-9]{1,3}|(100|[1-9]?[0-9])%)$", max_length=4)]
Amount = Annotated[int, Field(ge=0)] | _SHARE
#: maxConcurrency: at least one at a time.
Concurrency = Annotated[int, Field(ge=1)] | _SHARE

TargetPhase = Literal["Pending", "Applying", "Verifying", "Succeeded", "Failed", "DryRun", "Skipped"]
#: A target in one of these never runs again.
FINAL_TARGET_PHASES = frozenset({"Succeeded", "Failed", "DryRun", "Skipped"})


def amount(value: int | str, total: int) -> int:
    """An ``Amount`` as a count of ``total`` targets: a percentage rounds down (10% of 15 is 1)."""
    text = str(value)
    if text.endswith("%"):
        return math.floor(int(text[:-1]) * total / 100)
    return int(text)


class FanOut(Model):
    """Run the step's action on every object of ``kinds`` matching ``selector`` in the runbook's scope."""

    kinds: list[Literal["Deployment", "StatefulSet", "DaemonSet", "HorizontalPodAutoscaler", "Pod"]] = Field(
        min_length=1,
        max_length=5,
        description="Kinds of object in the set (namespaced kinds only: a step never fans out over nodes).",
    )
    selector: LabelSelector = Field(
        description="Labels every object of the set carries. In scope: a Runbook's own namespace; for a "
        "ClusterRunbook, the namespaces its scope admits for the Remediation (a tenant's Remediation: its own "
        "namespace unless target.namespaces admits more)."
    )
    max_concurrency: Concurrency = Field(
        default=1,
        description=f"How many targets are in progress at once: a count, or a percentage of the set (rounded "
        f"down, at least 1). The set is resolved once when the step is planned, sorted, at most {MAX_TARGETS}.",
    )
    max_errors: Amount = Field(
        default=0,
        description="How many targets may fail before no new target is started and the step fails: a count or a "
        "percentage of the set (rounded down). 0: the first failure stops the step. Failures within it leave "
        "the step Succeeded, each failed target recorded.",
    )

    def concurrency(self, total: int) -> int:
        return max(1, amount(self.max_concurrency, total))

    def errors(self, total: int) -> int:
        return amount(self.max_errors, total)


class TargetRef(Model):
    api_version: str = Field(max_length=64, description="API version of the object.")
    kind: str = Field(max_length=63, description="Kind of the object.")
    name: str = Field(max_length=253, description="Name of the object.")
    namespace: str | None = Field(default=None, max_length=63, description="Namespace of the object.")

    def describe(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


class TargetProgress(Model):
    """One object of a fanned-out step: where it stands, what was planned and what was done."""

    target: TargetRef = Field(description="The object acted on (after resolving, e.g. a Deployment to its HPA).")
    phase: TargetPhase = Field(
        default="Pending",
        description="Pending (not started), Applying (plan recorded), Verifying, then Succeeded, Failed, DryRun or "
        "Skipped (never started: maxErrors was exceeded).",
    )
    leadership: str | None = Field(
        default=None, max_length=300, description="The leadership its intent (plan) was recorded under."
    )
    started_at: Time | None = Field(default=None, description="When its plan was recorded.")
    finished_at: Time | None = Field(default=None, description="When it reached a final phase.")
    deadline: Time | None = Field(default=None, description="When its current phase times out.")
    verified_since: Time | None = Field(default=None, description="Since when its verification has held.")
    attempts: int = Field(default=0, ge=0, description="How many times the action was applied to it.")
    plan: str = Field(default="", max_length=1024, description="What was planned for it.")
    changes: dict[str, Any] = Field(
        default_factory=dict,
        description="The exact change planned, then made.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    message: str = Field(default="", max_length=1024, description="The latest progress or outcome.")
    reason: str = Field(default="", max_length=63, description="One CamelCase word for a failure.")
