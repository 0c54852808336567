"""cordon: mark the target node unschedulable, as ``kubectl cordon`` does."""

from __future__ import annotations

from typing import ClassVar

from paramedic.api.params import CordonParams as Params

from .base import Action, Context, Done, Plan, noting


class Cordon(Action[Params]):
    name = "cordon"
    kinds = frozenset({"Node"})
    params_model = Params
    unschedulable: ClassVar[bool] = True

    def plan(self, ctx: Context, params: Params) -> Plan:
        was = bool(ctx.target.obj["spec"].get("unschedulable"))
        changes = {"unschedulable": {"from": was, "to": self.unschedulable}}
        return noting(Plan(f"{self.name} {ctx.target.describe()}", changes), params.reason)

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done:
        # null removes the field, which is how kubectl uncordon leaves a node.
        ctx.clients.core.patch_node(ctx.target.name, {"spec": {"unschedulable": self.unschedulable or None}})
        return Done(f"{self.name}ed {ctx.target.describe()}", dict(plan.changes))


ACTION = Cordon()
