"""The one interface every action implements.

An action is a class with a ``Params`` model (its part of the Runbook schema)
and three methods:

- ``plan`` reads the world and decides the exact change (an absolute replica
  count, the revision to roll back to). The plan is written to the
  Remediation's status *before* anything changes, so a restarted operator
  applies the recorded plan instead of recomputing a different one.
- ``apply`` makes the world match the plan. It must be idempotent: it is
  called again after an operator restart, and again after each
  ``InProgress`` it returns (a drain waiting on a PodDisruptionBudget, a Job
  still running).
- ``verify`` says whether the fix took (the rollout finished, the node is
  drained). The engine polls it until it holds or the step's verification
  times out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from paramedic.api.common import Model
from paramedic.api.runbook import CLUSTER_ONLY
from paramedic.kube import Clients

from . import checks
from .target import Target as Target

P = TypeVar("P", bound=Model)


class ActionFailed(Exception):
    """The step cannot succeed; the message says why, for the status and the Event."""

    def __init__(self, message: str, reason: str = "ActionFailed") -> None:
        super().__init__(message)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Plan:
    """What the step will change, recorded in status before it is applied."""

    summary: str
    changes: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def noting(plan: Plan, reason: str | None) -> Plan:
    """The plan with the step's free-text ``reason`` in what the step records (its plan and changes)."""
    if not reason:
        return plan
    return Plan(f"{plan.summary} (reason: {reason})", {**plan.changes, "reason": reason})


@dataclasses.dataclass(frozen=True)
class Done:
    message: str
    changes: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class InProgress:
    """Not finished yet: call apply again after ``retry_after`` seconds."""

    message: str
    retry_after: float = 2.0
    #: Facts to record before the next call (e.g. that a reboot was requested), so it is not repeated.
    changes: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Context:
    """Everything an action may use: API clients, the target, and who asks."""

    clients: Clients
    target: Target
    remediation_name: str
    remediation_namespace: str
    remediation_uid: str
    step_index: int
    #: Earlier steps of this Remediation, as recorded: {"action", "phase", "target": {...}}.
    history: tuple[Mapping[str, Any], ...] = ()
    #: This Remediation plans without changing anything. Only then may a dry-run step stand in
    #: for a prerequisite (a snapshot, a drain): a real action never follows a pretend one.
    dry_run: bool = False
    #: Runbook or ClusterRunbook: what a namespaced Runbook asks for is held to tighter rules (runJob).
    runbook_kind: str = "Runbook"
    #: The step's intent was recorded under another leadership (an earlier leader or process) and is not
    #: finished: that one may have sent a request whose outcome it did not record (paramedic.fencing).
    inherited: bool = False

    @property
    def key(self) -> str:
        """A stable identity for this step of this Remediation, for idempotent writes."""
        return f"{self.remediation_uid}/{self.step_index}"


class Action(Generic[P]):
    #: The step field that selects this action, e.g. ``rolloutRestart``.
    name: ClassVar[str]
    #: Kinds this action works on. A Pod target is resolved to its owner when
    #: the action works on workloads.
    kinds: ClassVar[frozenset[str]]
    #: The verification used when the step does not name one.
    default_check: ClassVar[str | None] = None
    params_model: type[P]

    @property
    def cluster_only(self) -> bool:
        """Node and cloud actions are reserved to ClusterRunbooks: the Step model marks them."""
        return self.name in CLUSTER_ONLY

    def plan(self, ctx: Context, params: P) -> Plan:
        raise NotImplementedError

    def apply(self, ctx: Context, params: P, plan: Plan) -> Done | InProgress:
        raise NotImplementedError

    def dry_run(self, ctx: Context, params: P, plan: Plan) -> str | None:
        """Ask the provider whether apply would succeed, where it can tell (AWS DryRun=True)."""
        return None

    def verify(self, ctx: Context, params: P, plan: Plan, check: str) -> tuple[bool, str]:
        """Whether the fix took; by default the named check on the target."""
        return checks.run(check, ctx.clients, ctx.target)
