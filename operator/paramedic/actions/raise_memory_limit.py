"""raiseMemoryLimit: the fix for an OOM kill, bounded by a cap.

The new limits are computed once at plan time (current x factor, at most the
cap) and recorded, so a repeated apply does not multiply them again.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from paramedic.api.params import RaiseMemoryLimitParams as Params

from . import workloads
from .base import Action, ActionFailed, Context, Done, Plan

_MI = Decimal(1024 * 1024)


def _mebibytes(quantity: Decimal) -> str:
    return f"{int((quantity / _MI).to_integral_value(rounding='ROUND_CEILING'))}Mi"


class RaiseMemoryLimit(Action[Params]):
    name = "raiseMemoryLimit"
    kinds = workloads.WORKLOADS
    default_check = "RolloutComplete"
    params_model = Params

    def plan(self, ctx: Context, params: Params) -> Plan:
        cap = parse_quantity(params.cap)
        containers = ctx.target.obj["spec"]["template"]["spec"]["containers"]
        if params.container and params.container not in {c["name"] for c in containers}:
            raise ActionFailed(f"{ctx.target.describe()} has no container {params.container!r}", "NoContainer")
        changes: dict[str, Any] = {}
        for c in containers:
            if params.container and c["name"] != params.container:
                continue
            limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
            if limit is None:
                continue
            current = parse_quantity(limit)
            new = min(current * Decimal(str(params.factor)), cap)
            if new > current:
                changes[c["name"]] = {"from": limit, "to": _mebibytes(new)}
        if not changes:
            raise ActionFailed(
                f"no container of {ctx.target.describe()} has a memory limit below the cap {params.cap}",
                "AtCap",
            )
        summary = ", ".join(f"{name} {c['from']} -> {c['to']}" for name, c in changes.items())
        return Plan(f"raise memory limits of {ctx.target.describe()}: {summary}", {"containers": changes})

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done:
        t = ctx.target
        assert t.namespace is not None
        containers = [
            {"name": name, "resources": {"limits": {"memory": change["to"]}}}
            for name, change in plan.changes["containers"].items()
        ]
        workloads.patch(
            ctx.clients, t.kind, t.namespace, t.name, {"spec": {"template": {"spec": {"containers": containers}}}}
        )
        return Done(plan.summary, dict(plan.changes))


ACTION = RaiseMemoryLimit()
