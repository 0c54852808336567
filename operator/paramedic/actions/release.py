"""release: delete the NetworkPolicy an earlier isolate step of this Remediation created.

Only the policy that step recorded (its name and namespace, in the
Remediation's status), and only while it still carries that step's key: a
release never deletes a policy someone else made or re-made under the name.
Deleting what is already gone is success, so a restart repeats it safely.
"""

from __future__ import annotations

from typing import Any

from paramedic.api.breach_params import ReleaseParams as Params
from paramedic.kube import ApiException

from .base import Action, ActionFailed, Context, Done, Plan
from .isolate import MADE_BY
from .workloads import ANY_KIND


def recorded_policy(ctx: Context, step_name: str) -> tuple[dict[str, Any], str]:
    """The NetworkPolicy (name, namespace) and the key of the isolate step ``step_name``, from the history."""
    for step in reversed(ctx.history):
        if step.get("name") != step_name:
            continue
        recorded = (step.get("changes") or {}).get("networkPolicy")
        if step.get("action") != "isolate" or not recorded:
            raise ActionFailed(f"step {step_name} is not an isolate step that made a NetworkPolicy", "NoRecord")
        return dict(recorded), f"{ctx.remediation_uid}/{step['index']}"
    raise ActionFailed(f"no earlier step named {step_name} in this Remediation", "NoRecord")


class Release(Action[Params]):
    name = "release"
    kinds = ANY_KIND
    params_model = Params

    def plan(self, ctx: Context, params: Params) -> Plan:
        policy, key = recorded_policy(ctx, params.from_step)
        return Plan(
            f"delete NetworkPolicy {policy['namespace']}/{policy['name']} (made by step {params.from_step})",
            {"networkPolicy": policy, "madeBy": key},
        )

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done:
        policy = plan.changes["networkPolicy"]
        name, namespace = policy["name"], policy["namespace"]
        api = ctx.clients.networking
        try:
            existing = api.read_namespaced_network_policy(name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return Done(f"NetworkPolicy {namespace}/{name} is gone", {"deleted": True})
        if (existing.metadata.annotations or {}).get(MADE_BY) != plan.changes["madeBy"]:
            raise ActionFailed(
                f"NetworkPolicy {namespace}/{name} was not made by step {params.from_step}: not deleting it",
                "NotOurs",
            )
        try:
            # The uid precondition: delete the policy just read, never one re-made under the name since.
            api.delete_namespaced_network_policy(
                name, namespace, body={"preconditions": {"uid": existing.metadata.uid}}
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
        return Done(f"deleted NetworkPolicy {namespace}/{name}", {"deleted": True})


ACTION = Release()
