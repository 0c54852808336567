"""Runbook and ClusterRunbook: codified procedures.

A Runbook acts only in its own namespace. A ClusterRunbook may act on nodes,
across namespaces and (with the cloud actions) outside the cluster, and says
which namespaces may invoke it, like Role/ClusterRole and
Issuer/ClusterIssuer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator

from . import celwhen
from .breach_params import (
    ApplyManifestParams,
    ClusterApplyManifestParams,
    IsolateParams,
    ReleaseParams,
    RestartConsumersParams,
)
from .common import Approvers, Duration, LabelSelector, Model, Name, ObjectRef, OneOf
from .evidence import COLLECT_RULE, ClusterCollectors, CollectorName, Collectors
from .fanout import FANOUT_ACTIONS, FanOut
from .params import (
    CordonParams,
    DeletePodParams,
    DrainParams,
    Ec2TerminateParams,
    EksScaleParams,
    ElasticacheReplicasParams,
    PatchHPAParams,
    RaiseMemoryLimitParams,
    RdsFailoverParams,
    RdsRebootParams,
    RdsSnapshotParams,
    RollbackParams,
    RolloutRestartParams,
    RunJobParams,
    ScaleParams,
    TenantRunJobParams,
)
from .silence import SilenceSpec
from .triggers import QUERY_MAX, Trigger

#: Characters of a verify.promql query (as a trigger's query).
PROMQL_MAX = QUERY_MAX

#: The checks a step's verify may name (``paramedic.actions.checks`` implements each but None).
Check = Literal["RolloutComplete", "PodsHealthy", "NodeReady", "None"]


@dataclasses.dataclass(frozen=True)
class ActionField:
    """Marks a Step field as an action (Annotated metadata: pydantic keeps it out of the schema).

    The step's one-of, the cluster-only rule and the node-kinds rule are all
    read from these marks, so the Step model is the only list of actions.
    """

    #: Reserved to ClusterRunbooks (nodes, the cloud).
    cluster_only: bool = False
    #: Acts on a node itself: the runbook must name Node in target.kinds (``resources.NODE_KINDS_RULE``).
    node: bool = False


_ACTION = ActionField()
_CLUSTER = ActionField(cluster_only=True)
_NODE = ActionField(cluster_only=True, node=True)


class Verify(Model):
    """How to tell that a step's fix took."""

    check: Check | None = Field(
        default=None,
        description=(
            "RolloutComplete: the workload finished rolling out (kubectl rollout status). "
            "PodsHealthy: every pod of the workload is Ready and none is in CrashLoopBackOff. "
            "NodeReady: the node reports Ready. None: no verification. "
            "By default the action's own check (RolloutComplete for workload changes)."
        ),
    )
    timeout: Duration = Field(default="5m", description="Fail the step if the check does not hold within this.")
    stable_for: Duration = Field(
        default="0s", description="The check must hold continuously this long (catches a pod that crashes again)."
    )
    promql: str | None = Field(
        default=None,
        min_length=1,
        max_length=PROMQL_MAX,
        description="A PromQL condition that must hold too, as an alerting rule's expr: it holds while the query "
        "returns a non-empty result (e.g. sum(rate(errors[1m])) / sum(rate(requests[1m])) < 0.05). Asked of the "
        "runbook's own prometheus trigger's server (its url and bearerToken), else of the operator's "
        "--prometheus-url; polled with the check until both have held for stableFor, or the step fails at timeout. "
        "With check None, only this condition is verified.",
    )


_FANOUT_RULES: Any = [
    {
        "rule": "!has(self.fanOut) || !has(self.target)",
        "message": "a step sets fanOut or target, not both",
        "fieldPath": ".fanOut",
    },
    {
        "rule": "!has(self.fanOut) || " + " || ".join(f"has(self.{a})" for a in FANOUT_ACTIONS),
        "message": "fanOut works only with " + ", ".join(FANOUT_ACTIONS),
        "fieldPath": ".fanOut",
    },
]


class Step(OneOf):
    """One action of the procedure: exactly one of the action fields is set."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": _FANOUT_RULES})

    # one_of and one_of_message are set below, from the fields marked ActionField.

    name: str | None = Field(default=None, max_length=63, description="A short name shown in the history.")
    rollout_restart: Annotated[RolloutRestartParams | None, _ACTION] = Field(
        default=None, description="Restart a Deployment, StatefulSet or DaemonSet (kubectl rollout restart)."
    )
    scale: Annotated[ScaleParams | None, _ACTION] = Field(
        default=None, description="Set the replica count of a workload."
    )
    patch_hpa: Annotated[PatchHPAParams | None, _ACTION] = Field(
        default=None, alias="patchHPA", description="Change an HorizontalPodAutoscaler's bounds."
    )
    delete_pod: Annotated[DeletePodParams | None, _ACTION] = Field(default=None, description="Delete the target pod.")
    rollback: Annotated[RollbackParams | None, _ACTION] = Field(
        default=None, description="Roll a Deployment back to an earlier revision (kubectl rollout undo)."
    )
    raise_memory_limit: Annotated[RaiseMemoryLimitParams | None, _ACTION] = Field(
        default=None, description="Raise container memory limits up to a cap."
    )
    cordon: Annotated[CordonParams | None, _NODE] = Field(
        default=None, description="Mark a node unschedulable (ClusterRunbook only)."
    )
    uncordon: Annotated[CordonParams | None, _NODE] = Field(
        default=None, description="Mark a node schedulable again (ClusterRunbook only)."
    )
    drain: Annotated[DrainParams | None, _NODE] = Field(
        default=None, description="Cordon a node and evict its pods through the Eviction API (ClusterRunbook only)."
    )
    run_job: Annotated[TenantRunJobParams | None, _ACTION] = Field(
        default=None,
        description="Run a Job and wait for its result. In a Runbook, a safe subset of JobSpec: the pod runs as the "
        "namespace's default ServiceAccount without its token.",
    )
    rds_snapshot: Annotated[RdsSnapshotParams | None, _CLUSTER] = Field(
        default=None, description="Snapshot an RDS instance, named after the Remediation (ClusterRunbook only)."
    )
    rds_reboot: Annotated[RdsRebootParams | None, _CLUSTER] = Field(
        default=None, description="Reboot an RDS instance, optionally with failover (ClusterRunbook only)."
    )
    rds_failover_cluster: Annotated[RdsFailoverParams | None, _CLUSTER] = Field(
        default=None, description="Fail an RDS DB cluster over to a replica (ClusterRunbook only)."
    )
    eks_scale_nodegroup: Annotated[EksScaleParams | None, _CLUSTER] = Field(
        default=None, description="Resize an EKS managed node group within caps (ClusterRunbook only)."
    )
    ec2_terminate_node_instance: Annotated[Ec2TerminateParams | None, _NODE] = Field(
        default=None,
        description="Terminate the drained target node's EC2 instance so its Auto Scaling group replaces it "
        "(ClusterRunbook only; needs an earlier successful drain of that node).",
    )
    elasticache_set_replicas: Annotated[ElasticacheReplicasParams | None, _CLUSTER] = Field(
        default=None, description="Set an ElastiCache replication group's replicas (ClusterRunbook only)."
    )
    isolate: Annotated[IsolateParams | None, _ACTION] = Field(
        default=None,
        description="Cut the target workload's pods (or the declared ones) off with a NetworkPolicy in its "
        "namespace: deny-all, an allow-list or blocked source ranges.",
    )
    release: Annotated[ReleaseParams | None, _ACTION] = Field(
        default=None, description="Delete the NetworkPolicy an earlier isolate step of this Remediation created."
    )
    restart_consumers_of: Annotated[RestartConsumersParams | None, _ACTION] = Field(
        default=None,
        description="Rollout-restart every Deployment, StatefulSet and DaemonSet in the target's namespace whose "
        "pods use the Secret or ConfigMap (after a rotation).",
    )
    apply_manifest: Annotated[ApplyManifestParams | None, _ACTION] = Field(
        default=None,
        description="Server-side apply a known-good manifest held in a ConfigMap, into the target's namespace "
        "(in a Runbook: ConfigMap, Ingress and Service only).",
    )
    target: ObjectRef | None = Field(
        default=None,
        description="Act on this object instead of the Remediation's target (e.g. restart the router, then the "
        "frontend). Its namespace defaults to the target's; a Runbook still acts only in its own namespace.",
    )
    verify: Verify | None = Field(default=None, description="What must hold after the action for the step to succeed.")
    timeout: Duration = Field(default="5m", description="Fail the step if its action has not finished within this.")
    when: str | None = Field(
        default=None,
        min_length=1,
        max_length=celwhen.MAX_LENGTH,
        description="Run the step only if this CEL condition holds when the step is reached, e.g. "
        "evidence.routerLogs.matches > 0 && metrics.errorRate > 0.10. It reads evidence (the latest record of each "
        "collector: ok, outcome, error, excerpt and its figures), metrics (each PromQL collector's value), target "
        "(kind, name, namespace) and trigger (kind and the trigger's evidence labels). A step whose condition does "
        "not hold, or cannot be evaluated (a missing collector: guard with has()), is recorded as Skipped with the "
        "values it saw, and the next step follows. At most 2 comprehension macros.",
    )

    @field_validator("when")
    @classmethod
    def _when_compiles(cls, value: str | None) -> str | None:
        """Checked here, so lint and the runbook watch refuse it: the API server cannot compile CEL in a string."""
        if value is not None and (why := celwhen.problem(value)) is not None:
            raise ValueError(f"when {why}")
        return value

    # -- fan-out (issue #17): appended here, its rules in _FANOUT_RULES --
    fan_out: FanOut | None = Field(
        default=None,
        description="Act on a target set instead of one target: every object of fanOut.kinds matching "
        "fanOut.selector in the runbook's scope, at most maxConcurrency at a time, stopping when more than "
        f"maxErrors failed. Only for {', '.join(FANOUT_ACTIONS)}; not with target. Each object's timeout and "
        "verification are the step's.",
    )

    # evidence hook (issue 16): gathered after this step
    collect: list[CollectorName] = Field(
        default_factory=list,
        max_length=10,
        description="Collectors of spec.evidence to gather again once this step has ended (after its "
        "verification), before the next step.",
    )

    @property
    def action(self) -> str:
        """The name of the action this step runs."""
        return self.chosen()[0]

    @property
    def record_name(self) -> str:
        """The name its StepRecord carries (and status, Events and history show): its own, else its action's."""
        return self.name or self.action

    @property
    def params(self) -> Model:
        value = self.by_alias(self.action)
        assert isinstance(value, Model)
        return value


#: Every action, by its step field (wire name), as the Step model declares it.
ACTIONS: dict[str, ActionField] = {
    info.alias or name: mark
    for name, info in Step.model_fields.items()
    for mark in info.metadata
    if isinstance(mark, ActionField)
}
ACTION_FIELDS = tuple(ACTIONS)
CLUSTER_ONLY = frozenset(field for field, mark in ACTIONS.items() if mark.cluster_only)
NODE_ACTIONS = frozenset(field for field, mark in ACTIONS.items() if mark.node)
Step.one_of = ACTION_FIELDS
Step.one_of_message = "a step sets exactly one action: " + ", ".join(ACTION_FIELDS)


class ClusterStep(Step):
    """A ClusterRunbook's step: its runJob takes a full JobSpec, since cluster administrators write it."""

    # A full JobSpec is not a subtype of the tenant's subset, so mypy sees an incompatible override;
    # pydantic, which builds the schema, takes the subclass's field as intended.
    run_job: Annotated[RunJobParams | None, _ACTION] = Field(  # type: ignore[assignment]
        default=None, description="Run a Job and wait for its result (a full batch/v1 JobSpec)."
    )
    apply_manifest: Annotated[ClusterApplyManifestParams | None, _ACTION] = Field(  # type: ignore[assignment]
        default=None,
        description="Server-side apply a known-good manifest held in a ConfigMap, into the target's namespace "
        "(of the kinds the step declares).",
    )


class TargetSelector(Model):
    """Which objects the runbook may act on (and, for triggers, which failures it reacts to)."""

    kinds: list[Literal["Pod", "Deployment", "StatefulSet", "DaemonSet", "HorizontalPodAutoscaler", "Node", "Job"]] = (
        Field(
            default_factory=list,
            max_length=7,
            description="Kinds of target accepted; empty accepts every kind the steps support.",
        )
    )
    selector: LabelSelector | None = Field(
        default=None, description="Labels the target (for a Pod: the pod) must have."
    )
    namespaces: LabelSelector | None = Field(
        default=None,
        description="ClusterRunbook only: labels of the namespaces whose objects it acts on. Unset: every namespace "
        "that allowedNamespaces admits.",
    )


class PolicyRef(Model):
    name: Name = Field(description="Name of the policy object.")


class RunbookSpec(Model):
    """What to do, for which targets, and under which safety rules."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    # Not a model validator: snapshots recorded before approvers existed must still parse.
                    "rule": "!has(self.requiresApproval) || !self.requiresApproval || has(self.approvers)",
                    "message": "approvers must name who may approve when requiresApproval is true",
                    "fieldPath": ".approvers",
                },
                COLLECT_RULE,
            ]
        }
    )

    description: str = Field(default="", max_length=2048, description="What this runbook fixes, for humans.")
    trigger: Trigger = Field(
        default_factory=lambda: Trigger(manual={}),
        description="What starts this runbook. Default: manual (only Remediations created by people).",
    )
    target: TargetSelector = Field(default_factory=TargetSelector, description="Which objects it may act on.")
    steps: Sequence[Step] = Field(min_length=1, max_length=20, description="The procedure, in order.")
    mode: Literal["AllInOrder", "UntilVerified"] = Field(
        default="AllInOrder",
        description=(
            "AllInOrder: run every step; the first failure fails the Remediation. "
            "UntilVerified: try the steps in order and stop at the first whose verification passes "
            "(restart, then roll back, then give up)."
        ),
    )
    dry_run: bool = Field(default=False, description="Plan every step and record it, change nothing.")
    requires_approval: bool = Field(
        default=False,
        description="Wait for an approver (see approvers) to set spec.approved=true and spec.approvedBy on the "
        "Remediation before acting.",
    )
    approvers: Approvers | None = Field(
        default=None,
        description="Who may approve this runbook's Remediations and mark them resolved (never the person who "
        "requested one). Required with requiresApproval. Recorded in each Remediation's status.approval when it "
        "is accepted.",
    )
    rate_limit_policy_ref: PolicyRef | None = Field(
        default=None, description="The RateLimitPolicy that bounds how often this runbook acts."
    )
    escalation_policy_ref: PolicyRef | None = Field(
        default=None, description="The EscalationPolicy notified when automation is not enough."
    )
    on_failure: Literal["Fail", "Escalate"] = Field(
        default="Escalate",
        description="When the steps are exhausted or verification fails: Fail marks the Remediation Failed; "
        "Escalate also notifies the escalation policy.",
    )
    # evidence hook (issue 16)
    evidence: Collectors = Field(
        default_factory=list,
        max_length=10,
        description="Named evidence collectors (logs, events, summary, http), all gathered before the first action "
        "and again after each step that lists them in collect. See docs/evidence.md.",
    )

    silence: SilenceSpec | None = Field(
        default=None,
        description="An Alertmanager silence held while the Remediation acts (needs the operator's "
        "--alertmanager-url): short ttl re-extended each pass, expired at the end, never blocking the fix. "
        "A namespaced Runbook's silence also matches namespace=<its namespace> only.",
    )


class ClusterRunbookSpec(RunbookSpec):
    steps: Sequence[ClusterStep] = Field(min_length=1, max_length=20, description="The procedure, in order.")
    allowed_namespaces: LabelSelector | None = Field(
        default=None,
        description="Namespaces whose Remediations may use this ClusterRunbook. Unset: only the operator's own "
        "namespace (an empty selector {} admits every namespace).",
    )
    evidence: ClusterCollectors = Field(  # type: ignore[assignment]
        default_factory=list,
        max_length=10,
        description="Named evidence collectors (logs, events, summary, http, promql, aws), all gathered before the "
        "first action and again after each step that lists them in collect. See docs/evidence.md.",
    )
