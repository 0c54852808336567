"""deletePod: delete the target pod so its controller replaces it.

The pod's UID is recorded at plan time and used as a delete precondition: if
the operator restarts after the delete, the replacement pod (same name for a
StatefulSet) is not deleted a second time.
"""

from __future__ import annotations

from typing import Any

from paramedic.api.params import DeletePodParams as Params
from paramedic.kube import ApiException

from .base import Action, Context, Done, Plan


class DeletePod(Action[Params]):
    name = "deletePod"
    kinds = frozenset({"Pod"})
    params_model = Params

    def plan(self, ctx: Context, params: Params) -> Plan:
        uid = ctx.target.obj["metadata"]["uid"]
        return Plan(f"delete {ctx.target.describe()}", {"uid": uid})

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done:
        t = ctx.target
        body: dict[str, Any] = {"preconditions": {"uid": plan.changes["uid"]}}
        if params.grace_period_seconds is not None:
            body["gracePeriodSeconds"] = params.grace_period_seconds
        try:
            ctx.clients.core.delete_namespaced_pod(t.name, t.namespace, body=body)
        except ApiException as exc:
            # 404: already gone; 409: the name now belongs to a replacement pod.
            if exc.status in (404, 409):
                return Done(f"{t.describe()} was already deleted", dict(plan.changes))
            raise
        return Done(f"deleted {t.describe()}", dict(plan.changes))


ACTION = DeletePod()
