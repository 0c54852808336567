"""eksScaleNodegroup: resize an EKS managed node group, within the runbook's caps."""

from __future__ import annotations

from typing import Any

from paramedic.api.params import EksScaleParams as Params

from . import aws
from .base import Action, ActionFailed, Context, Done, InProgress, Plan
from .workloads import ANY_KIND


class EksScaleNodegroup(Action[Params]):
    name = "eksScaleNodegroup"
    kinds = ANY_KIND
    params_model = Params

    def _group(self, params: Params) -> dict[str, Any]:
        eks = aws.client("eks")
        found: dict[str, Any] = aws.call(
            eks.describe_nodegroup, clusterName=params.cluster_name, nodegroupName=params.nodegroup_name
        )["nodegroup"]
        return found

    def plan(self, ctx: Context, params: Params) -> Plan:
        scaling = self._group(params)["scalingConfig"]
        current = int(scaling["desiredSize"])
        wanted = params.desired_size if params.desired_size is not None else current + (params.by or 0)
        wanted = max(params.min_desired, min(wanted, params.max_desired))
        if wanted == current:
            raise ActionFailed(
                f"node group {params.nodegroup_name} is already at {current} (caps "
                f"{params.min_desired}..{params.max_desired})",
                "AtCap",
            )
        config = {
            "desiredSize": wanted,
            "minSize": min(int(scaling["minSize"]), wanted),
            "maxSize": max(int(scaling["maxSize"]), wanted),
        }
        return Plan(
            f"scale node group {params.cluster_name}/{params.nodegroup_name} from {current} to {wanted}",
            {"from": current, "to": wanted, "scalingConfig": config},
        )

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done | InProgress:
        group = self._group(params)
        config = dict(plan.changes["scalingConfig"])
        if int(group["scalingConfig"]["desiredSize"]) != config["desiredSize"]:
            aws.call(
                aws.client("eks").update_nodegroup_config,
                clusterName=params.cluster_name,
                nodegroupName=params.nodegroup_name,
                scalingConfig=config,
            )
            return InProgress("node group update requested", retry_after=1.0)
        if group.get("status") not in ("ACTIVE", None):
            return InProgress(f"node group is {group.get('status')}", retry_after=2.0)
        return Done(
            f"node group {params.nodegroup_name} desired size is {config['desiredSize']}", {"scalingConfig": config}
        )


ACTION = EksScaleNodegroup()
