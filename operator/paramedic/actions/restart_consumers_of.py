"""restartConsumersOf: after a Secret or ConfigMap is rotated, restart every workload whose pods use it.

Pods read Secrets and ConfigMaps at start (env) or through a volume that
some applications never re-read, so a rotation takes effect only once they
restart. The consumers are found at plan time, in the target's namespace
(which the access rules authorized: a tenant's Runbook stays in its own),
and recorded sorted and bounded, with one restartedAt stamp: applying again
after an operator restart patches the same annotation values, which starts
no second rollout. Verification waits for every recorded consumer.
"""

from __future__ import annotations

from typing import Any

from paramedic.api.breach_params import RestartConsumersParams as Params
from paramedic.kube import now
from paramedic.kube.kinds import KINDS, api_version

from . import checks, consumers, workloads
from .base import Action, ActionFailed, Context, Done, Plan, Target
from .rollout_restart import RESTARTED_AT, RESTARTED_BY

#: At most this many consumers in one step (the record stays small; a larger set is a target set's job).
MAX_CONSUMERS = 50


def _source(params: Params) -> tuple[consumers.Source, str]:
    if params.secret is not None:
        return "secret", params.secret
    assert params.config_map is not None
    return "configMap", params.config_map


def find(ctx: Context, params: Params) -> list[dict[str, str]]:
    """Every Deployment, StatefulSet and DaemonSet in the target's namespace whose pods use the source."""
    namespace = ctx.target.namespace
    assert namespace is not None
    source, name = _source(params)
    found = []
    for kind in sorted(workloads.WORKLOADS):
        for item in KINDS[kind].list(ctx.clients, namespace):
            obj = ctx.clients.plain(item)
            if consumers.uses(obj["spec"]["template"].get("spec") or {}, source, name):
                found.append({"kind": kind, "name": obj["metadata"]["name"]})
    return sorted(found, key=lambda c: (c["kind"], c["name"]))


class RestartConsumersOf(Action[Params]):
    name = "restartConsumersOf"
    kinds = workloads.ANY_KIND
    default_check = "RolloutComplete"
    params_model = Params

    def plan(self, ctx: Context, params: Params) -> Plan:
        source, name = _source(params)
        found = find(ctx, params)
        if len(found) > MAX_CONSUMERS:
            raise ActionFailed(
                f"{len(found)} workloads use {source} {name}; restartConsumersOf restarts at most {MAX_CONSUMERS}",
                "TooManyConsumers",
            )
        listed = ", ".join(f"{c['kind']}/{c['name']}" for c in found) or "none"
        return Plan(
            f"restart the consumers of {source} {ctx.target.namespace}/{name}: {listed}",
            {
                "source": {"kind": "Secret" if source == "secret" else "ConfigMap", "name": name},
                "namespace": ctx.target.namespace,
                "consumers": found,
                "templateAnnotations": {RESTARTED_AT: now(), RESTARTED_BY: ctx.key},
            },
        )

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done:
        namespace = plan.changes["namespace"]
        annotations: dict[str, Any] = dict(plan.changes["templateAnnotations"])
        body = {"spec": {"template": {"metadata": {"annotations": annotations}}}}
        for consumer in plan.changes["consumers"]:
            workloads.patch(ctx.clients, consumer["kind"], namespace, consumer["name"], body)
        return Done(f"restarted {len(plan.changes['consumers'])} consumer(s)", {"restarted": True})

    def verify(self, ctx: Context, params: Params, plan: Plan, check: str) -> tuple[bool, str]:
        """The check on every consumer: the step holds when each one does."""
        namespace = plan.changes["namespace"]
        for consumer in plan.changes["consumers"]:
            kind, name = consumer["kind"], consumer["name"]
            obj = workloads.read(ctx.clients, kind, namespace, name)
            ok, detail = checks.run(check, ctx.clients, Target(api_version(kind), kind, name, namespace, obj))
            if not ok:
                return False, f"{kind}/{name}: {detail}"
        return True, f"{len(plan.changes['consumers'])} consumer(s): {check} holds"


ACTION = RestartConsumersOf()
