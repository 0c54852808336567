"""The custom resources paramedic defines: names, scope, schema models and
printer columns. ``crdgen`` turns this table into ``crds/*.yaml``."""

from __future__ import annotations

import dataclasses
from typing import Any

from .common import Model
from .policies import EscalationPolicySpec, EscalationPolicyStatus, RateLimitPolicySpec, RateLimitPolicyStatus
from .remediation import RemediationSpec, RemediationStatus
from .runbook import ACTION_FIELDS, CLUSTER_ONLY, NODE_ACTIONS, ClusterRunbookSpec, RunbookSpec
from .runbook_status import RunbookStatus

CLUSTER_ONLY_STEPS = tuple(f for f in ACTION_FIELDS if f in CLUSTER_ONLY)
NODE_STEPS = tuple(f for f in ACTION_FIELDS if f in NODE_ACTIONS)
#: Node actions name Node in target.kinds, so that the selector is checked on the node acted on.
NODE_KINDS_RULE = {
    "rule": "!self.steps.exists(s, "
    + " || ".join(f"has(s.{f})" for f in NODE_STEPS)
    + ") || (has(self.target) && has(self.target.kinds) && 'Node' in self.target.kinds)",
    "message": "node actions (" + ", ".join(NODE_STEPS) + ") need Node in target.kinds, so that target.selector "
    "is checked on the node acted on",
    "fieldPath": ".target.kinds",
}


@dataclasses.dataclass(frozen=True)
class Resource:
    kind: str
    plural: str
    short_names: tuple[str, ...]
    namespaced: bool
    spec: type[Model]
    status: type[Model]
    description: str
    columns: tuple[dict[str, Any], ...]
    spec_rules: tuple[dict[str, str], ...] = ()

    @property
    def singular(self) -> str:
        return self.kind.lower()


_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}

_RUNBOOK_COLUMNS = (
    {"name": "Trigger", "type": "string", "jsonPath": ".status.triggerKind"},
    {"name": "Fired", "type": "integer", "jsonPath": ".status.fireCount"},
    {"name": "Last-Fired", "type": "date", "jsonPath": ".status.lastFiredAt"},
    {"name": "Dry-Run", "type": "boolean", "jsonPath": ".spec.dryRun", "priority": 1},
    {"name": "Description", "type": "string", "jsonPath": ".spec.description", "priority": 1},
    _AGE,
)

RUNBOOK = Resource(
    kind="Runbook",
    plural="runbooks",
    short_names=("rb",),
    namespaced=True,
    spec=RunbookSpec,
    status=RunbookStatus,
    description="A codified remediation procedure that acts only on objects in its own namespace.",
    columns=_RUNBOOK_COLUMNS,
    spec_rules=(
        {
            "rule": "self.steps.all(s, " + " && ".join(f"!has(s.{f})" for f in CLUSTER_ONLY_STEPS) + ")",
            "message": "node and cloud actions (" + ", ".join(CLUSTER_ONLY_STEPS) + ") need a ClusterRunbook",
            "fieldPath": ".steps",
        },
        {
            "rule": "!has(self.target) || !has(self.target.namespaces)",
            "message": "target.namespaces is only for ClusterRunbooks: a Runbook acts in its own namespace",
            "fieldPath": ".target.namespaces",
        },
        {
            "rule": "!has(self.trigger) || !has(self.trigger.nodeNotReady)",
            "message": "trigger.nodeNotReady needs a ClusterRunbook (nodes are cluster-scoped)",
            "fieldPath": ".trigger.nodeNotReady",
        },
    ),
)

CLUSTER_RUNBOOK = Resource(
    kind="ClusterRunbook",
    plural="clusterrunbooks",
    short_names=("crb",),
    namespaced=False,
    spec=ClusterRunbookSpec,
    status=RunbookStatus,
    description="A codified remediation procedure that may act on nodes and across namespaces.",
    columns=_RUNBOOK_COLUMNS,
    spec_rules=(NODE_KINDS_RULE,),
)

REMEDIATION = Resource(
    kind="Remediation",
    plural="remediations",
    short_names=("rem",),
    namespaced=True,
    spec=RemediationSpec,
    status=RemediationStatus,
    description="One execution of a runbook against one target, with its step history.",
    columns=(
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Target", "type": "string", "jsonPath": ".status.targetSummary"},
        {"name": "Runbook", "type": "string", "jsonPath": ".spec.runbookRef.name"},
        {"name": "Trigger", "type": "string", "jsonPath": ".spec.trigger.kind"},
        {"name": "Step", "type": "integer", "jsonPath": ".status.currentStep", "priority": 1},
        {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
        _AGE,
    ),
)


RATE_LIMIT_POLICY = Resource(
    kind="RateLimitPolicy",
    plural="ratelimitpolicies",
    short_names=("rlp",),
    namespaced=True,
    spec=RateLimitPolicySpec,
    status=RateLimitPolicyStatus,
    description="How often automatic remediations may act, and when they must not (storms, freezes).",
    columns=(
        {"name": "Cooldown", "type": "string", "jsonPath": ".spec.cooldown"},
        {"name": "Storm-Breaker", "type": "boolean", "jsonPath": ".spec.stormBreaker.enabled"},
        _AGE,
    ),
)

ESCALATION_POLICY = Resource(
    kind="EscalationPolicy",
    plural="escalationpolicies",
    short_names=("esp",),
    namespaced=True,
    spec=EscalationPolicySpec,
    status=EscalationPolicyStatus,
    description="Who is notified, in which order, when automation is not enough.",
    columns=(
        {"name": "Repeat", "type": "string", "jsonPath": ".spec.repeatInterval"},
        _AGE,
    ),
)

RESOURCES = (RUNBOOK, CLUSTER_RUNBOOK, REMEDIATION, RATE_LIMIT_POLICY, ESCALATION_POLICY)
