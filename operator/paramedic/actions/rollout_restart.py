"""rolloutRestart: what ``kubectl rollout restart`` does, once per step.

The restart is keyed by the Remediation's UID and step: the pod-template
annotations are computed at plan time, so applying the plan twice (after an
operator restart) changes nothing and starts no second rollout.
"""

from __future__ import annotations

from paramedic.api.params import RolloutRestartParams as Params
from paramedic.kube import now

from . import workloads
from .base import Action, Context, Done, Plan, noting

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
RESTARTED_BY = "paramedic.dev/restarted-by"


class RolloutRestart(Action[Params]):
    name = "rolloutRestart"
    kinds = workloads.WORKLOADS
    default_check = "RolloutComplete"
    params_model = Params

    def plan(self, ctx: Context, params: Params) -> Plan:
        t = ctx.target
        return noting(
            Plan(
                f"rollout restart {t.describe()}", {"templateAnnotations": {RESTARTED_AT: now(), RESTARTED_BY: ctx.key}}
            ),
            params.reason,
        )

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done:
        t = ctx.target
        assert t.namespace is not None
        annotations = dict(plan.changes["templateAnnotations"])
        body = {"spec": {"template": {"metadata": {"annotations": annotations}}}}
        workloads.patch(ctx.clients, t.kind, t.namespace, t.name, body)
        return Done(f"restarted {t.describe()}", {"templateAnnotations": annotations})


ACTION = RolloutRestart()
