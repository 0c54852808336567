"""scale: set a workload's replicas, absolutely or relatively, within bounds.

The absolute count is computed once, at plan time, and recorded: applying the
plan again after a restart does not add replicas twice. When an HPA owns the
replica count, writing spec.replicas would be undone by the HPA within
seconds, so the step either refuses with the reason or moves the HPA's
minReplicas instead (``hpaPolicy``).
"""

from __future__ import annotations

from typing import Any

from paramedic.api.params import ScaleParams as Params

from . import hpas, workloads
from .base import Action, ActionFailed, Context, Done, Plan


class Scale(Action[Params]):
    name = "scale"
    kinds = frozenset({"Deployment", "StatefulSet"})
    default_check = "RolloutComplete"
    params_model = Params

    def plan(self, ctx: Context, params: Params) -> Plan:
        t = ctx.target
        current = workloads.desired_replicas(dict(t.obj), t.kind)
        wanted = params.replicas if params.replicas is not None else current + (params.by or 0)
        if params.min is not None:
            wanted = max(wanted, params.min)
        if params.max is not None:
            wanted = min(wanted, params.max)
        wanted = max(wanted, 0)
        changes: dict[str, Any] = {"from": current, "to": wanted}
        hpa = hpas.owning(ctx.clients, t)
        if hpa is None:
            return Plan(f"scale {t.describe()} from {current} to {wanted}", changes)
        hpa_name = hpa["metadata"]["name"]
        if params.hpa_policy == "Refuse":
            raise ActionFailed(
                f"HorizontalPodAutoscaler {hpa_name} owns the replica count of {t.describe()}; "
                "set hpaPolicy: RaiseBounds or use patchHPA instead of fighting it",
                reason="OwnedByHPA",
            )
        spec = hpa["spec"]
        new_max = max(int(spec["maxReplicas"]), wanted)
        changes["hpa"] = {"name": hpa_name, "minReplicas": wanted, "maxReplicas": new_max}
        return Plan(f"raise HPA {hpa_name} minReplicas to {wanted} (for {t.describe()})", changes)

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done:
        t = ctx.target
        assert t.namespace is not None
        hpa = plan.changes.get("hpa")
        if hpa:
            body = {"spec": {"minReplicas": hpa["minReplicas"], "maxReplicas": hpa["maxReplicas"]}}
            ctx.clients.autoscaling.patch_namespaced_horizontal_pod_autoscaler(hpa["name"], t.namespace, body)
            return Done(plan.summary, dict(plan.changes))
        workloads.patch(ctx.clients, t.kind, t.namespace, t.name, {"spec": {"replicas": plan.changes["to"]}})
        return Done(plan.summary, dict(plan.changes))


ACTION = Scale()
