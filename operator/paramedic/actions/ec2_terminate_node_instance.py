"""ec2TerminateNodeInstance: terminate a drained node's EC2 instance so its
Auto Scaling group replaces it.

Only after a successful cordon-and-drain of that same node earlier in the
same Remediation: terminating a node that still runs pods is an outage.
"""

from __future__ import annotations

from paramedic.api.params import Ec2TerminateParams as Params

from . import aws
from .base import Action, ActionFailed, Context, Done, InProgress, Plan, noting


def drained(ctx: Context) -> bool:
    return any(
        step.get("action") == "drain"
        and step.get("phase") in (("Succeeded", "DryRun") if ctx.dry_run else ("Succeeded",))
        and (step.get("target") or {}).get("kind") == "Node"
        and (step.get("target") or {}).get("name") == ctx.target.name
        for step in ctx.history
    )


class Ec2TerminateNodeInstance(Action[Params]):
    name = "ec2TerminateNodeInstance"
    kinds = frozenset({"Node"})
    params_model = Params

    def plan(self, ctx: Context, params: Params) -> Plan:
        if not drained(ctx):
            raise ActionFailed(
                f"{ctx.target.describe()} must be drained by an earlier step of this Remediation before its "
                "instance is terminated",
                "NotDrained",
            )
        instance = aws.instance_id(ctx.target.obj["spec"].get("providerID"))
        plan = Plan(f"terminate EC2 instance {instance} of {ctx.target.describe()}", {"instance": instance})
        return noting(plan, params.reason)

    def dry_run(self, ctx: Context, params: Params, plan: Plan) -> str | None:
        return aws.dry_run_ok(aws.client("ec2").terminate_instances, InstanceIds=[plan.changes["instance"]])

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done | InProgress:
        ec2 = aws.client("ec2")
        instance = str(plan.changes["instance"])
        found = aws.call(ec2.describe_instances, InstanceIds=[instance])
        state = found["Reservations"][0]["Instances"][0]["State"]["Name"]
        if state == "terminated":
            return Done(f"instance {instance} is terminated", {"state": state})
        if state != "shutting-down":
            aws.call(ec2.terminate_instances, InstanceIds=[instance])
        return InProgress(f"instance {instance} is {state}", retry_after=2.0)


ACTION = Ec2TerminateNodeInstance()
