"""drain: cordon the node and evict its pods through the Eviction API.

Evictions, not deletes, so PodDisruptionBudgets are honoured: a 429 means
the budget does not allow it now, and the step waits (returns InProgress)
and tries again until the step's timeout. The filters are kubectl drain's:
DaemonSet pods and mirror pods are skipped, pods with emptyDir data and
pods no controller will recreate are refused unless the runbook allows it.
"""

from __future__ import annotations

from typing import Any

from paramedic.api.params import DrainParams as Params
from paramedic.kube import ApiException

from .base import Action, ActionFailed, Context, Done, InProgress, Plan

MIRROR = "kubernetes.io/config.mirror"


def _owner_kind(pod: dict[str, Any]) -> str | None:
    for owner in pod["metadata"].get("ownerReferences") or []:
        if owner.get("controller"):
            return str(owner["kind"])
    return None


def classify(pods: list[dict[str, Any]], params: Params) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Split the node's pods into (to evict, skipped with reason, refused with reason)."""
    evict: list[str] = []
    skipped: dict[str, str] = {}
    refused: dict[str, str] = {}
    for pod in pods:
        meta, spec = pod["metadata"], pod["spec"]
        key = f"{meta['namespace']}/{meta['name']}"
        if meta.get("deletionTimestamp"):
            continue
        if MIRROR in (meta.get("annotations") or {}):
            skipped[key] = "mirror pod"
        elif _owner_kind(pod) == "DaemonSet":
            skipped[key] = "DaemonSet pod"
        elif pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            evict.append(key)
        elif _owner_kind(pod) is None and not params.force:
            refused[key] = "no controller manages it (set force to evict it)"
        elif any("emptyDir" in v for v in spec.get("volumes") or []) and not params.delete_empty_dir_data:
            refused[key] = "it uses emptyDir data (set deleteEmptyDirData to evict it)"
        else:
            evict.append(key)
    return evict, skipped, refused


class Drain(Action[Params]):
    name = "drain"
    kinds = frozenset({"Node"})
    params_model = Params

    def _pods(self, ctx: Context) -> list[dict[str, Any]]:
        pods = ctx.clients.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={ctx.target.name}")
        return [ctx.clients.plain(p) for p in pods.items]

    def plan(self, ctx: Context, params: Params) -> Plan:
        evict, skipped, refused = classify(self._pods(ctx), params)
        if refused:
            listing = "; ".join(f"{pod}: {why}" for pod, why in sorted(refused.items()))
            raise ActionFailed(f"cannot drain {ctx.target.describe()}: {listing}", "DrainRefused")
        return Plan(
            f"cordon {ctx.target.describe()} and evict {len(evict)} pods",
            {"evict": sorted(evict), "skipped": skipped},
        )

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done | InProgress:
        ctx.clients.core.patch_node(ctx.target.name, {"spec": {"unschedulable": True}})
        # Pods are listed again each time: anything that landed before the
        # cordon took effect is evicted too.
        evict, _, refused = classify(self._pods(ctx), params)
        if refused:
            listing = "; ".join(f"{pod}: {why}" for pod, why in sorted(refused.items()))
            raise ActionFailed(f"cannot drain {ctx.target.describe()}: {listing}", "DrainRefused")
        blocked: dict[str, str] = {}
        for key in evict:
            namespace, name = key.split("/", 1)
            body: dict[str, Any] = {
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": name, "namespace": namespace},
            }
            if params.grace_period_seconds is not None:
                body["deleteOptions"] = {"gracePeriodSeconds": params.grace_period_seconds}
            try:
                ctx.clients.core.create_namespaced_pod_eviction(name, namespace, body)
            except ApiException as exc:
                if exc.status == 404:
                    continue
                if exc.status == 429:
                    blocked[key] = "a PodDisruptionBudget does not allow it yet"
                    continue
                if exc.status == 403 and "NamespaceTerminating" in (exc.body or ""):
                    # As kubectl drain: the namespace controller is deleting it anyway.
                    blocked[key] = "its namespace is being deleted"
                    continue
                raise
        remaining = [
            p["metadata"]["namespace"] + "/" + p["metadata"]["name"]
            for p in self._pods(ctx)
            if p["metadata"]["namespace"] + "/" + p["metadata"]["name"] in set(evict)
        ]
        if remaining:
            detail = "; ".join(f"{k}: {v}" for k, v in sorted(blocked.items())) or "waiting for evicted pods to go"
            return InProgress(f"{len(remaining)} pods left on {ctx.target.describe()} ({detail})", retry_after=2.0)
        return Done(
            f"drained {ctx.target.describe()}",
            {"evicted": sorted(set(plan.changes["evict"]) | set(evict)), "skipped": plan.changes["skipped"]},
        )


ACTION = Drain()
