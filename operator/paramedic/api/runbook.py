"""Runbook and ClusterRunbook: codified procedures.

A Runbook acts only in its own namespace. A ClusterRunbook may act on nodes,
across namespaces and (with the cloud actions) outside the cluster, and says
which namespaces may invoke it, like Role/ClusterRole and
Issuer/ClusterIssuer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import ConfigDict, Field

from paramedic.actions import REGISTRY
from paramedic.actions.checks import CHECKS
from paramedic.actions.cordon import Params as CordonParams
from paramedic.actions.delete_pod import Params as DeletePodParams
from paramedic.actions.drain import Params as DrainParams
from paramedic.actions.ec2_terminate_node_instance import Params as Ec2TerminateParams
from paramedic.actions.eks_scale_nodegroup import Params as EksScaleParams
from paramedic.actions.elasticache_set_replicas import Params as ElasticacheReplicasParams
from paramedic.actions.patch_hpa import Params as PatchHPAParams
from paramedic.actions.raise_memory_limit import Params as RaiseMemoryLimitParams
from paramedic.actions.rds_failover_cluster import Params as RdsFailoverParams
from paramedic.actions.rds_reboot import Params as RdsRebootParams
from paramedic.actions.rds_snapshot import Params as RdsSnapshotParams
from paramedic.actions.rollback import Params as RollbackParams
from paramedic.actions.rollout_restart import Params as RolloutRestartParams
from paramedic.actions.run_job import Params as RunJobParams
from paramedic.actions.run_job import TenantParams as TenantRunJobParams
from paramedic.actions.scale import Params as ScaleParams

from .common import Approvers, Condition, Duration, LabelSelector, Model, Name, ObjectRef, OneOf
from .triggers import Trigger

Check = Literal["RolloutComplete", "PodsHealthy", "NodeReady", "None"]
assert set(Check.__args__) == {*CHECKS, "None"}  # type: ignore[attr-defined]

#: The step fields that each select one action (the registry's names).
ACTION_FIELDS = (
    "rolloutRestart",
    "scale",
    "patchHPA",
    "deletePod",
    "rollback",
    "raiseMemoryLimit",
    "cordon",
    "uncordon",
    "drain",
    "runJob",
    "rdsSnapshot",
    "rdsReboot",
    "rdsFailoverCluster",
    "eksScaleNodegroup",
    "ec2TerminateNodeInstance",
    "elasticacheSetReplicas",
)


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


assert set(ACTION_FIELDS) == set(REGISTRY), "every registered action is a step field"


class Step(OneOf):
    """One action of the procedure: exactly one of the action fields is set."""

    one_of = ACTION_FIELDS
    one_of_message = "a step sets exactly one action: " + ", ".join(ACTION_FIELDS)

    name: str | None = Field(default=None, max_length=63, description="A short name shown in the history.")
    rollout_restart: RolloutRestartParams | None = Field(
        default=None, description="Restart a Deployment, StatefulSet or DaemonSet (kubectl rollout restart)."
    )
    scale: ScaleParams | None = Field(default=None, description="Set the replica count of a workload.")
    patch_hpa: PatchHPAParams | None = Field(
        default=None, alias="patchHPA", description="Change an HorizontalPodAutoscaler's bounds."
    )
    delete_pod: DeletePodParams | None = Field(default=None, description="Delete the target pod.")
    rollback: RollbackParams | None = Field(
        default=None, description="Roll a Deployment back to an earlier revision (kubectl rollout undo)."
    )
    raise_memory_limit: RaiseMemoryLimitParams | None = Field(
        default=None, description="Raise container memory limits up to a cap."
    )
    cordon: CordonParams | None = Field(default=None, description="Mark a node unschedulable (ClusterRunbook only).")
    uncordon: CordonParams | None = Field(
        default=None, description="Mark a node schedulable again (ClusterRunbook only)."
    )
    drain: DrainParams | None = Field(
        default=None, description="Cordon a node and evict its pods through the Eviction API (ClusterRunbook only)."
    )
    run_job: TenantRunJobParams | None = Field(
        default=None,
        description="Run a Job and wait for its result. In a Runbook, a safe subset of JobSpec: the pod runs as the "
        "namespace's default ServiceAccount without its token.",
    )
    rds_snapshot: RdsSnapshotParams | None = Field(
        default=None, description="Snapshot an RDS instance, named after the Remediation (ClusterRunbook only)."
    )
    rds_reboot: RdsRebootParams | None = Field(
        default=None, description="Reboot an RDS instance, optionally with failover (ClusterRunbook only)."
    )
    rds_failover_cluster: RdsFailoverParams | None = Field(
        default=None, description="Fail an RDS DB cluster over to a replica (ClusterRunbook only)."
    )
    eks_scale_nodegroup: EksScaleParams | None = Field(
        default=None, description="Resize an EKS managed node group within caps (ClusterRunbook only)."
    )
    ec2_terminate_node_instance: Ec2TerminateParams | None = Field(
        default=None,
        description="Terminate the drained target node's EC2 instance so its Auto Scaling group replaces it "
        "(ClusterRunbook only; needs an earlier successful drain of that node).",
    )
    elasticache_set_replicas: ElasticacheReplicasParams | None = Field(
        default=None, description="Set an ElastiCache replication group's replicas (ClusterRunbook only)."
    )
    target: ObjectRef | None = Field(
        default=None,
        description="Act on this object instead of the Remediation's target (e.g. restart the router, then the "
        "frontend). Its namespace defaults to the target's; a Runbook still acts only in its own namespace.",
    )
    verify: Verify | None = Field(default=None, description="What must hold after the action for the step to succeed.")
    timeout: Duration = Field(default="5m", description="Fail the step if its action has not finished within this.")

    @property
    def action(self) -> str:
        """The name of the action this step runs."""
        return self.chosen()[0]

    @property
    def params(self) -> Model:
        value = self.by_alias(self.action)
        assert isinstance(value, Model)
        return value


class ClusterStep(Step):
    """A ClusterRunbook's step: its runJob takes a full JobSpec, since cluster administrators write it."""

    # A full JobSpec is not a subtype of the tenant's subset, so mypy sees an incompatible override;
    # pydantic, which builds the schema, takes the subclass's field as intended.
    run_job: RunJobParams | None = Field(  # type: ignore[assignment]
        default=None, description="Run a Job and wait for its result (a full batch/v1 JobSpec)."
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
                }
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


class ClusterRunbookSpec(RunbookSpec):
    steps: Sequence[ClusterStep] = Field(min_length=1, max_length=20, description="The procedure, in order.")
    allowed_namespaces: LabelSelector | None = Field(
        default=None,
        description="Namespaces whose Remediations may use this ClusterRunbook. Unset: only the operator's own "
        "namespace (an empty selector {} admits every namespace).",
    )


#: At most this many series' PromQL ``for`` clocks are kept in a runbook's status (the earliest pending first).
PENDING_SERIES_MAX = 100


class PendingSeries(Model):
    """A PromQL series failing now, and since when: the ``for`` clock, kept so a restart or failover resumes it."""

    series: str = Field(
        max_length=300,
        description="The series' labels (name=value,... sorted), or sha256: and their digest when longer than 256.",
    )
    since: str = Field(max_length=40, description="When the operator first saw the series failing (RFC 3339).")
    fired_at: str | None = Field(
        default=None, max_length=40, description="When it had failed for the trigger's for and fired (RFC 3339)."
    )


class RunbookStatus(Model):
    """What the operator has seen of this runbook."""

    trigger_kind: str = Field(default="", description="The runbook's trigger kind, for printing.")
    fire_count: int = Field(default=0, ge=0, description="How many Remediations its trigger has started.")
    last_fired_at: str | None = Field(default=None, description="When its trigger last started a Remediation.")
    last_error: str = Field(default="", description="The latest trigger evaluation error, empty when healthy.")
    observed_generation: int | None = Field(default=None, description="The generation the status reflects.")
    conditions: list[Condition] = Field(default_factory=list, description="Ready: the runbook is valid and armed.")
    pending_series: list[PendingSeries] = Field(
        default_factory=list,
        max_length=PENDING_SERIES_MAX,
        description="PromQL triggers: the failing series and since when, written only when one starts failing, "
        "fires or recovers; restored at start-up, so a restart does not reset a for clock.",
    )
