"""applyManifest: put a known-good manifest back (a deleted Ingress re-created, a modified one restored).

The manifest is read from a ConfigMap in the target's namespace (the
namespace the access rules authorized for this Remediation), parsed as data
and held to the step's kinds (``manifests``). Planning applies it as a
server-side dry run and records, per object, whether it would be created,
changed (which fields) or left alone, with the digest of the text: a dry-run
Remediation shows the diff, and apply refuses if the ConfigMap changed since
(it applies what was planned, or nothing). Apply is a server-side apply as
field manager ``paramedic``; objects the plan found unchanged are not
written.
"""

from __future__ import annotations

import hashlib
from typing import Any

from paramedic.api.breach_params import FORBIDDEN_MANIFEST_KINDS
from paramedic.api.breach_params import ApplyManifestBase as Params
from paramedic.kube import ApiException
from paramedic.kube import apply as ssa

from . import manifests
from .base import Action, ActionFailed, Context, Done, Plan
from .workloads import ANY_KIND


def _text(ctx: Context, params: Params, namespace: str) -> str:
    try:
        config_map = ctx.clients.core.read_namespaced_config_map(params.config_map, namespace)
    except ApiException as exc:
        if exc.status == 404:
            raise ActionFailed(f"ConfigMap {namespace}/{params.config_map} not found", "ManifestNotFound") from None
        raise
    text = (config_map.data or {}).get(params.key)
    if text is None:
        raise ActionFailed(f"ConfigMap {namespace}/{params.config_map} has no key {params.key}", "ManifestNotFound")
    return str(text)


def _documents(ctx: Context, params: Params, namespace: str, text: str) -> list[manifests.Document]:
    try:
        checked = manifests.check(manifests.parse(text), params.kinds, FORBIDDEN_MANIFEST_KINDS, namespace)
    except manifests.Invalid as exc:
        raise ActionFailed(f"applyManifest {params.config_map}/{params.key}: {exc}", "ManifestRefused") from None
    for doc in checked:
        where = ssa.resource(ctx.clients, doc.api_version, doc.kind)
        if where is None or not where.namespaced:
            what = "is not served by the API server" if where is None else "is cluster-scoped"
            raise ActionFailed(f"applyManifest: {doc.api_version} {doc.kind} {what}", "ManifestRefused")
    return checked


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _apply(ctx: Context, doc: manifests.Document, namespace: str, force: bool, dry_run: bool) -> dict[str, Any]:
    where = ssa.resource(ctx.clients, doc.api_version, doc.kind)
    assert where is not None
    try:
        return ssa.apply(ctx.clients, where, namespace, doc.body, force=force, dry_run=dry_run)
    except ApiException as exc:
        if exc.status == 409:
            raise ActionFailed(
                f"{doc.describe()}: fields another manager owns differ (set forceConflicts to take them over): "
                f"{exc.reason}",
                "Conflict",
            ) from None
        if exc.status in (400, 403, 422):
            raise ActionFailed(
                f"{doc.describe()}: the API server refused it: {exc.body or exc.reason}", "Rejected"
            ) from None
        raise


class ApplyManifest(Action[Params]):
    name = "applyManifest"
    kinds = ANY_KIND
    params_model = Params

    def plan(self, ctx: Context, params: Params) -> Plan:
        namespace = ctx.target.namespace
        if namespace is None:
            raise ActionFailed("applyManifest applies into the target's namespace; a Node has none", "NoNamespace")
        text = _text(ctx, params, namespace)
        objects = []
        for doc in _documents(ctx, params, namespace, text):
            where = ssa.resource(ctx.clients, doc.api_version, doc.kind)
            assert where is not None
            try:
                current: dict[str, Any] | None = ssa.read(ctx.clients, where, namespace, doc.name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                current = None
            after = _apply(ctx, doc, namespace, params.force_conflicts, dry_run=True)
            fields = manifests.changed_fields(current, after)
            change = "create" if current is None else ("update" if fields else "unchanged")
            objects.append(
                {"apiVersion": doc.api_version, "kind": doc.kind, "name": doc.name, "change": change, "fields": fields}
            )
        summary = ", ".join(f"{o['change']} {o['kind']}/{o['name']}" for o in objects)
        return Plan(
            f"apply {params.config_map}/{params.key} in {namespace}: {summary}",
            {"configMap": params.config_map, "key": params.key, "digest": _digest(text), "objects": objects},
        )

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done:
        namespace = ctx.target.namespace
        assert namespace is not None
        text = _text(ctx, params, namespace)
        if _digest(text) != plan.changes["digest"]:
            raise ActionFailed(
                f"ConfigMap {namespace}/{params.config_map} changed since the plan: not applying what was not planned",
                "ManifestChanged",
            )
        todo = {(o["kind"], o["name"]) for o in plan.changes["objects"] if o["change"] != "unchanged"}
        applied = []
        for doc in _documents(ctx, params, namespace, text):
            if (doc.kind, doc.name) in todo:
                _apply(ctx, doc, namespace, params.force_conflicts, dry_run=False)
                applied.append(doc.describe())
        return Done(f"applied {', '.join(applied) or 'nothing (already as declared)'}", {"applied": applied})


ACTION = ApplyManifest()
