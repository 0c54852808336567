"""rdsReboot: reboot a stuck RDS instance (optionally failing over), after a snapshot if required."""

from __future__ import annotations

from paramedic.api.params import RdsRebootParams as Params

from . import aws
from .base import Action, ActionFailed, Context, Done, InProgress, Plan
from .workloads import ANY_KIND


def snapshot_taken(ctx: Context, instance: str) -> bool:
    return any(
        step.get("action") == "rdsSnapshot"
        and step.get("phase") in (("Succeeded", "DryRun") if ctx.dry_run else ("Succeeded",))
        and (step.get("changes") or {}).get("dbInstance") == instance
        for step in ctx.history
    )


class RdsReboot(Action[Params]):
    name = "rdsReboot"
    kinds = ANY_KIND
    params_model = Params

    def plan(self, ctx: Context, params: Params) -> Plan:
        if params.require_snapshot and not snapshot_taken(ctx, params.db_instance_identifier):
            raise ActionFailed(
                f"rdsReboot of {params.db_instance_identifier} requires an earlier successful rdsSnapshot step "
                "in this Remediation (or requireSnapshot: false)",
                "SnapshotRequired",
            )
        rds = aws.client("rds")
        found = aws.call(rds.describe_db_instances, DBInstanceIdentifier=params.db_instance_identifier)
        state = found["DBInstances"][0].get("DBInstanceStatus", "")
        failover = " with failover" if params.force_failover else ""
        return Plan(
            f"reboot RDS instance {params.db_instance_identifier}{failover}",
            {"dbInstance": params.db_instance_identifier, "statusBefore": state, "requested": False},
        )

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done | InProgress:
        rds = aws.client("rds")
        if not plan.changes.get("requested") and ctx.inherited:
            # The previous leader recorded this intent and may have sent the reboot without recording it:
            # verify instead of rebooting a second time.
            found = aws.call(rds.describe_db_instances, DBInstanceIdentifier=params.db_instance_identifier)
            state = found["DBInstances"][0].get("DBInstanceStatus", "")
            if state == "available":
                raise ActionFailed(
                    f"an earlier leader planned the reboot of {params.db_instance_identifier} and may have sent "
                    "it; the instance is available, so whether it rebooted cannot be told: not rebooting again",
                    "UnconfirmedIntent",
                )
            return InProgress(
                f"{params.db_instance_identifier} is {state}: the reboot an earlier leader requested is under way",
                retry_after=1.0,
                changes={"requested": True},
            )
        if not plan.changes.get("requested"):
            aws.call(
                rds.reboot_db_instance,
                DBInstanceIdentifier=params.db_instance_identifier,
                ForceFailover=params.force_failover,
            )
            return InProgress(
                f"reboot of {params.db_instance_identifier} requested", retry_after=1.0, changes={"requested": True}
            )
        found = aws.call(rds.describe_db_instances, DBInstanceIdentifier=params.db_instance_identifier)
        state = found["DBInstances"][0].get("DBInstanceStatus", "")
        if state != "available":
            return InProgress(f"{params.db_instance_identifier} is {state}", retry_after=2.0)
        return Done(f"rebooted {params.db_instance_identifier}; it is available", {"statusAfter": state})


ACTION = RdsReboot()
