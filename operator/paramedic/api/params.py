"""The parameters of every action: one model per step field, the schema of that field in the CRDs.

They are API types, so they live with the other models; each action module
in ``paramedic.actions`` imports its own (``Params``) and implements it.
Adding an action adds its model here, its field to ``runbook.Step``, and its
module under ``paramedic.actions``.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints

from . import tenant_job
from .common import Label, Model, Name, Text

#: A step's name, as ``runbook.Step.name`` bounds it: how one step points at an earlier one.
StepName = Annotated[str, StringConstraints(min_length=1, max_length=63)]


# rolloutRestart (paramedic.actions.rollout_restart)
class RolloutRestartParams(Model):
    """Restart every pod of the target workload by rolling out its template again."""

    reason: Text | None = Field(default=None, description="Free text kept in the step's history.")


# scale (paramedic.actions.scale)
class ScaleParams(Model):
    """Scale the target Deployment or StatefulSet."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.replicas) ? 1 : 0) + (has(self.by) ? 1 : 0) + "
                    "(has(self.restoreFrom) ? 1 : 0) == 1",
                    "message": "scale needs exactly one of replicas (absolute), by (relative) or restoreFrom (a step)",
                },
                {
                    "rule": "!has(self.min) || !has(self.max) || self.min <= self.max",
                    "message": "scale.min must not exceed scale.max",
                    "fieldPath": ".min",
                },
            ]
        }
    )

    replicas: int | None = Field(default=None, ge=0, description="The replica count to set.")
    by: int | None = Field(default=None, description="Replicas to add (negative to remove), from the current count.")
    min: int | None = Field(default=None, ge=0, description="Never scale below this many replicas.")
    max: int | None = Field(default=None, ge=0, description="Never scale above this many replicas.")
    hpa_policy: Literal["Refuse", "RaiseBounds"] = Field(
        default="Refuse",
        description=(
            "When an HorizontalPodAutoscaler owns the replica count: Refuse fails the step with the reason; "
            "RaiseBounds sets the HPA's minReplicas (and maxReplicas if needed, within max) to the new count."
        ),
    )
    restore_from: StepName | None = Field(
        default=None,
        description="Set the replicas an earlier scale step of this Remediation (by its name, on the same "
        "workload) found before it scaled (its changes.from): scale to zero, then restore. min and max still "
        "bound it.",
    )


# patchHPA (paramedic.actions.patch_hpa)
class PatchHPAParams(Model):
    """Change minReplicas and/or maxReplicas of the target's HorizontalPodAutoscaler."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.minReplicas) || has(self.maxReplicas) || has(self.raiseMaxBy)",
                    "message": "patchHPA needs minReplicas, maxReplicas or raiseMaxBy",
                },
                {
                    "rule": "!has(self.maxReplicas) || !has(self.raiseMaxBy)",
                    "message": "patchHPA takes maxReplicas or raiseMaxBy, not both",
                    "fieldPath": ".raiseMaxBy",
                },
            ]
        }
    )

    min_replicas: int | None = Field(default=None, ge=1, description="The minReplicas to set.")
    max_replicas: int | None = Field(default=None, ge=1, description="The maxReplicas to set.")
    raise_max_by: int | None = Field(default=None, ge=1, description="Add this many to the current maxReplicas.")
    cap: int = Field(ge=1, description="maxReplicas (and minReplicas) are never set above this.")


# deletePod (paramedic.actions.delete_pod)
class DeletePodParams(Model):
    """Delete the target pod."""

    grace_period_seconds: int | None = Field(
        default=None, ge=0, description="Override the pod's terminationGracePeriodSeconds."
    )


# rollback (paramedic.actions.rollback)
class RollbackParams(Model):
    """Roll the target Deployment back to an earlier revision."""

    to_revision: int | None = Field(
        default=None,
        ge=1,
        description="The revision to return to. By default the newest earlier revision whose pod template differs "
        "from the current one by more than restart annotations: a rollout restart is not a release.",
    )


# raiseMemoryLimit (paramedic.actions.raise_memory_limit)
class RaiseMemoryLimitParams(Model):
    """Raise the memory limit of the target workload's containers."""

    factor: float = Field(default=1.5, gt=1, le=10, description="Multiply the current limit by this.")
    cap: str = Field(
        pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$",
        max_length=32,
        description="Never set a limit above this quantity, e.g. 4Gi.",
    )
    container: Label | None = Field(default=None, description="Only this container; by default every container.")


# cordon (paramedic.actions.cordon)
class CordonParams(Model):
    """Change whether new pods may be scheduled on the target node."""

    reason: Text | None = Field(default=None, description="Free text kept in the step's history.")


# drain (paramedic.actions.drain)
class DrainParams(Model):
    """Cordon the target node and evict its pods."""

    delete_empty_dir_data: bool = Field(
        default=False, description="Evict pods that use emptyDir volumes (their data is lost)."
    )
    force: bool = Field(default=False, description="Evict pods that no controller manages (they are not recreated).")
    grace_period_seconds: int | None = Field(
        default=None, ge=0, description="Override each pod's terminationGracePeriodSeconds."
    )


# rdsSnapshot (paramedic.actions.rds_snapshot)
class RdsSnapshotParams(Model):
    """Take a manual snapshot of an RDS DB instance and wait until it is available."""

    db_instance_identifier: Name = Field(description="The DB instance to snapshot.")


# rdsReboot (paramedic.actions.rds_reboot)
class RdsRebootParams(Model):
    """Reboot an RDS DB instance and wait until it is available again."""

    db_instance_identifier: Name = Field(description="The DB instance to reboot.")
    force_failover: bool = Field(default=False, description="Reboot with failover (Multi-AZ instances).")
    require_snapshot: bool = Field(
        default=True,
        description="Refuse unless an earlier rdsSnapshot step of this Remediation succeeded for the same instance.",
    )


# rdsFailoverCluster (paramedic.actions.rds_failover_cluster)
class RdsFailoverParams(Model):
    """Fail the DB cluster over and wait until it is available with a new writer."""

    db_cluster_identifier: Name = Field(description="The DB cluster.")
    target_db_instance_identifier: Name | None = Field(
        default=None, description="The replica to promote; by default RDS chooses."
    )


# eksScaleNodegroup (paramedic.actions.eks_scale_nodegroup)
class EksScaleParams(Model):
    """Set the node group's desired size (absolute or relative), never beyond maxDesired."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.desiredSize) != has(self.by)",
                    "message": "eksScaleNodegroup needs exactly one of desiredSize or by",
                },
            ]
        }
    )

    cluster_name: Name = Field(description="The EKS cluster.")
    nodegroup_name: Name = Field(description="The managed node group.")
    desired_size: int | None = Field(default=None, ge=0, description="The desired size to set.")
    by: int | None = Field(default=None, description="Nodes to add (negative to remove) to the current desired size.")
    max_desired: int = Field(ge=0, description="The cap: the desired size is never set above this.")
    min_desired: int = Field(default=0, ge=0, description="The floor: never below this.")


# ec2TerminateNodeInstance (paramedic.actions.ec2_terminate_node_instance)
class Ec2TerminateParams(Model):
    """Terminate the EC2 instance behind the target node (from its spec.providerID)."""

    reason: Text | None = Field(default=None, description="Free text kept in the step's history.")


# elasticacheSetReplicas (paramedic.actions.elasticache_set_replicas)
class ElasticacheReplicasParams(Model):
    """Set the number of replicas per node group of an ElastiCache replication group."""

    replication_group_id: Name = Field(description="The replication group.")
    replicas: int = Field(ge=0, le=5, description="Replicas per node group to have.")
    max_replicas: int = Field(default=5, ge=0, le=5, description="The cap: never more replicas than this.")


# runJob (paramedic.actions.run_job)
LabelMap = tenant_job.LabelMap
AnnotationMap = Annotated[
    dict[Annotated[str, StringConstraints(max_length=317)], Annotated[str, StringConstraints(max_length=512)]],
    Field(max_length=8),
]


class JobTemplateBase(Model):
    labels: LabelMap | None = Field(default=None, description="Labels added to the Job.")
    annotations: AnnotationMap | None = Field(default=None, description="Annotations added to the Job.")


class JobTemplate(JobTemplateBase):
    """Labels, annotations and spec of the Job to create."""

    spec: dict[str, Any] = Field(
        description="A batch/v1 JobSpec. The API server validates it when the Job is created.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


class TenantJobTemplate(JobTemplateBase):
    """Labels, annotations and spec of the Job to create, from the subset a namespaced Runbook may use."""

    spec: tenant_job.JobSpec = Field(
        description="A subset of batch/v1 JobSpec: the pod runs as the namespace's default ServiceAccount without "
        "its token, with no host namespaces, host paths, privileges or node name."
    )


class RunJobBase(Model):
    """What both kinds of runbook give runJob; the Job spec's schema depends on the kind."""

    template: JobTemplateBase = Field(description="The Job to run.")
    ttl_seconds_after_finished: int = Field(
        default=86400, ge=0, le=2592000, description="How long the finished Job (and its logs) are kept."
    )

    def job_spec(self) -> dict[str, Any]:
        """The JobSpec as a fresh dict the action may complete."""
        raise NotImplementedError


class RunJobParams(RunJobBase):
    """Create a Job in the Remediation's namespace and wait until it succeeds or fails."""

    model_config = ConfigDict(title="RunJob")

    template: JobTemplate = Field(description="The Job to run.")

    def job_spec(self) -> dict[str, Any]:
        return copy.deepcopy(self.template.spec)


class TenantRunJobParams(RunJobBase):
    """Create a Job in the Remediation's namespace and wait until it succeeds or fails: a namespaced
    Runbook's Job runs as the namespace's default ServiceAccount, without its token."""

    model_config = ConfigDict(title="TenantRunJob")

    template: TenantJobTemplate = Field(description="The Job to run.")

    def job_spec(self) -> dict[str, Any]:
        return self.template.spec.dump()
