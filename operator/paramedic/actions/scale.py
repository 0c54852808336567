"""scale: set a workload's replicas, absolutely or relatively, within bounds.

The absolute count is computed once, at plan time, and recorded: applying the
plan again after a restart does not add replicas twice. When an HPA owns the
replica count, writing spec.replicas would be undone by the HPA within
seconds, so the step either refuses with the reason or moves the HPA's
minReplicas instead (``hpaPolicy``); a restore (``restoreFrom``) follows the
same rule, so scaling to zero and back never fights an HPA either.

Every plan records ``from`` (the count before the step), which a
later step of the same Remediation restores with ``restoreFrom``: the
isolate-by-scaling of a breach response, undone once the threat is gone.
"""

from __future__ import annotations

from typing import Any

from paramedic.api.params import ScaleParams as Params

from . import hpas, workloads
from .base import Action, ActionFailed, Context, Done, Plan


def recorded_replicas(ctx: Context, step_name: str) -> int:
    """The replicas the earlier scale step ``step_name`` of this Remediation found before it scaled.

    Read from the Remediation's own status (its steps are written by the operator; tenants' roles grant no
    status writes), only from a step that succeeded on the same workload: restoring another workload's count,
    or one a failed step never changed, would be a guess.
    """
    done = ("Succeeded", "DryRun") if ctx.dry_run else ("Succeeded",)
    for step in reversed(ctx.history):
        if step.get("name") != step_name:
            continue
        changes, target = step.get("changes") or {}, step.get("target") or {}
        if step.get("action") != "scale" or "from" not in changes:
            raise ActionFailed(f"step {step_name} is not a scale step that recorded its replicas", "NoRecord")
        if (target.get("kind"), target.get("name"), target.get("namespace")) != (
            ctx.target.kind,
            ctx.target.name,
            ctx.target.namespace,
        ):
            raise ActionFailed(
                f"step {step_name} scaled {target.get('kind')}/{target.get('name')}, not {ctx.target.describe()}",
                "NoRecord",
            )
        if step.get("phase") not in done:
            raise ActionFailed(f"step {step_name} did not succeed ({step.get('phase')})", "NoRecord")
        return int(changes["from"])
    raise ActionFailed(f"no earlier step named {step_name} in this Remediation", "NoRecord")


class Scale(Action[Params]):
    name = "scale"
    kinds = frozenset({"Deployment", "StatefulSet"})
    default_check = "RolloutComplete"
    params_model = Params

    def plan(self, ctx: Context, params: Params) -> Plan:
        t = ctx.target
        current = workloads.desired_replicas(dict(t.obj), t.kind)
        if params.restore_from is not None:
            wanted = recorded_replicas(ctx, params.restore_from)
        else:
            wanted = params.replicas if params.replicas is not None else current + (params.by or 0)
        if params.min is not None:
            wanted = max(wanted, params.min)
        if params.max is not None:
            wanted = min(wanted, params.max)
        wanted = max(wanted, 0)
        # "from" is the count before the step: what a later ``scale: {restoreFrom: <this step>}`` puts back.
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
