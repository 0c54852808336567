"""rdsSnapshot: a manual snapshot of an RDS instance, named after the Remediation.

The name is derived from the Remediation and the step, so applying again
after an operator restart finds the snapshot instead of taking a second one.
"""

from __future__ import annotations

import re

from paramedic.api.params import RdsSnapshotParams as Params

from . import aws
from .base import Action, Context, Done, InProgress, Plan
from .workloads import ANY_KIND


def snapshot_name(ctx: Context) -> str:
    base = re.sub(r"[^a-zA-Z0-9-]", "-", f"paramedic-{ctx.remediation_name}-s{ctx.step_index}")
    return re.sub("-+", "-", base)[:255].strip("-")


class RdsSnapshot(Action[Params]):
    name = "rdsSnapshot"
    kinds = ANY_KIND
    params_model = Params

    def plan(self, ctx: Context, params: Params) -> Plan:
        rds = aws.client("rds")
        aws.call(rds.describe_db_instances, DBInstanceIdentifier=params.db_instance_identifier)
        name = snapshot_name(ctx)
        return Plan(
            f"snapshot RDS instance {params.db_instance_identifier} as {name}",
            {"dbInstance": params.db_instance_identifier, "snapshot": name},
        )

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done | InProgress:
        rds = aws.client("rds")
        name = str(plan.changes["snapshot"])
        found = rds.describe_db_snapshots(SnapshotType="manual", DBInstanceIdentifier=params.db_instance_identifier)
        existing = next((s for s in found.get("DBSnapshots", []) if s["DBSnapshotIdentifier"] == name), None)
        if existing is None:
            aws.call(
                rds.create_db_snapshot, DBSnapshotIdentifier=name, DBInstanceIdentifier=params.db_instance_identifier
            )
            return InProgress(f"snapshot {name} requested", retry_after=1.0)
        if existing.get("Status") != "available":
            return InProgress(f"snapshot {name} is {existing.get('Status')}", retry_after=2.0)
        return Done(f"snapshot {name} is available", {"snapshotArn": existing.get("DBSnapshotArn", "")})


ACTION = RdsSnapshot()
