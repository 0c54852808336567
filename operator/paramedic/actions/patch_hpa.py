"""patchHPA: move an HPA's bounds, never past a cap.

This is the fix for "HPA at max": raise maxReplicas so the autoscaler can
keep up, but only as far as the runbook's cap allows (a cap is what keeps an
autoscaling bug from becoming a bill).
"""

from __future__ import annotations

from typing import Any

from paramedic.api.params import PatchHPAParams as Params

from .base import Action, ActionFailed, Context, Done, Plan


class PatchHPA(Action[Params]):
    name = "patchHPA"
    kinds = frozenset({"HorizontalPodAutoscaler"})
    params_model = Params

    def plan(self, ctx: Context, params: Params) -> Plan:
        spec = ctx.target.obj["spec"]
        old_min, old_max = int(spec.get("minReplicas") or 1), int(spec["maxReplicas"])
        new_max = params.max_replicas or (old_max + params.raise_max_by if params.raise_max_by else old_max)
        new_max = min(new_max, params.cap)
        new_min = min(params.min_replicas or old_min, new_max)
        if (new_min, new_max) == (old_min, old_max):
            raise ActionFailed(
                f"{ctx.target.describe()} is already at minReplicas={old_min}, maxReplicas={old_max} "
                f"and the cap is {params.cap}: nothing left to raise",
                reason="AtCap",
            )
        changes: dict[str, Any] = {
            "minReplicas": {"from": old_min, "to": new_min},
            "maxReplicas": {"from": old_max, "to": new_max},
        }
        return Plan(f"set {ctx.target.describe()} minReplicas={new_min} maxReplicas={new_max}", changes)

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done:
        t = ctx.target
        body = {
            "spec": {"minReplicas": plan.changes["minReplicas"]["to"], "maxReplicas": plan.changes["maxReplicas"]["to"]}
        }
        ctx.clients.autoscaling.patch_namespaced_horizontal_pod_autoscaler(t.name, t.namespace, body)
        return Done(plan.summary, dict(plan.changes))


ACTION = PatchHPA()
