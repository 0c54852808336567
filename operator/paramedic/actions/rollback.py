"""rollback: what ``kubectl rollout undo`` does for a Deployment.

The ReplicaSet to return to and its pod template are chosen and recorded at
plan time; apply writes that template back, which is a no-op when repeated.
"""

from __future__ import annotations

import copy
from typing import Any

from paramedic.api.params import RollbackParams as Params

from . import workloads
from .base import Action, ActionFailed, Context, Done, Plan

REVISION = "deployment.kubernetes.io/revision"


_RESTART_ANNOTATIONS = ("kubectl.kubernetes.io/restartedAt", "paramedic.dev/restarted-by")


def _release(template: dict[str, Any]) -> dict[str, Any]:
    """The template without what a restart or the ReplicaSet controller adds."""
    release = copy.deepcopy(template)
    meta = release.setdefault("metadata", {})
    (meta.get("labels") or {}).pop("pod-template-hash", None)
    annotations = meta.get("annotations") or {}
    for key in _RESTART_ANNOTATIONS:
        annotations.pop(key, None)
    if not annotations:
        meta.pop("annotations", None)
    return release


def _revision(rs: dict[str, Any]) -> int:
    return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))


class Rollback(Action[Params]):
    name = "rollback"
    kinds = frozenset({"Deployment"})
    default_check = "RolloutComplete"
    params_model = Params

    def plan(self, ctx: Context, params: Params) -> Plan:
        t = ctx.target
        deployment = dict(t.obj)
        uid = deployment["metadata"]["uid"]
        sets = [
            ctx.clients.plain(rs)
            for rs in ctx.clients.apps.list_namespaced_replica_set(
                t.namespace, label_selector=workloads.selector_string(deployment)
            ).items
            if any(o.uid == uid for o in rs.metadata.owner_references or [])
        ]
        current = _revision(deployment) or max((_revision(rs) for rs in sets), default=0)
        older = sorted((rs for rs in sets if _revision(rs) < current), key=_revision)
        if params.to_revision is not None:
            older = [rs for rs in older if _revision(rs) == params.to_revision]
        else:
            running = _release(deployment["spec"]["template"])
            older = [rs for rs in older if _release(rs["spec"]["template"]) != running]
        if not older:
            wanted = f"revision {params.to_revision}" if params.to_revision else "an earlier revision"
            raise ActionFailed(f"{t.describe()} has no {wanted} to roll back to (current {current})", "NoRevision")
        chosen = older[-1]
        template = copy.deepcopy(chosen["spec"]["template"])
        template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
        return Plan(
            f"roll {t.describe()} back from revision {current} to {_revision(chosen)}",
            {
                "fromRevision": current,
                "toRevision": _revision(chosen),
                "replicaSet": chosen["metadata"]["name"],
                "template": template,
            },
        )

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done:
        t = ctx.target
        assert t.namespace is not None
        patch = [{"op": "replace", "path": "/spec/template", "value": plan.changes["template"]}]
        workloads.patch(ctx.clients, t.kind, t.namespace, t.name, patch)
        recorded = {k: v for k, v in plan.changes.items() if k != "template"}
        return Done(plan.summary, recorded)


ACTION = Rollback()
