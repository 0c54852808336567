"""runJob: run a Job from the runbook and wait for its result.

This is how a runbook's ``psql`` or ``redis-cli`` step is written. The Job's
name is derived from the Remediation and the step, so a restarted operator
finds the Job it already created instead of starting a second one. Every
container gets the target's identity as environment variables.

A ClusterRunbook's Job template is a full JobSpec: cluster administrators
write it. A namespaced Runbook's is the allow-listed subset of
``api.tenant_job`` (its own params model, ``api.params.TenantRunJobParams``), and at run time
``job_guard`` refuses anything unsafe and pins the pod to the namespace's
``default`` ServiceAccount without a token: the operator creates the Job with
its own power, so the Job must not hold more than the tenant could.
"""

from __future__ import annotations

import hashlib
from typing import Any

from paramedic.api.params import RunJobBase, RunJobParams
from paramedic.kube import ApiException

from . import job_guard
from .base import Action, ActionFailed, Context, Done, InProgress, Plan

REMEDIATION_LABEL = "paramedic.dev/remediation"


def job_name(ctx: Context) -> str:
    digest = hashlib.sha256(ctx.key.encode()).hexdigest()[:6]
    return f"{ctx.remediation_name[:48]}-s{ctx.step_index}-{digest}"


class RunJob(Action[RunJobBase]):
    name = "runJob"
    kinds = frozenset(
        {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Node", "HorizontalPodAutoscaler"}
    )
    params_model = RunJobParams

    def plan(self, ctx: Context, params: RunJobBase) -> Plan:
        self._spec(ctx, params)  # refuse an unsafe Job before anything is recorded as intended
        name = job_name(ctx)
        return Plan(f"run Job {ctx.remediation_namespace}/{name}", {"job": name})

    def _spec(self, ctx: Context, params: RunJobBase) -> dict[str, Any]:
        """The JobSpec to create; a namespaced Runbook's is held to ``job_guard`` whatever its schema allowed."""
        spec = params.job_spec()
        if ctx.runbook_kind == "ClusterRunbook":
            return spec
        found = job_guard.problems(spec)
        if found:
            raise ActionFailed("a Runbook's Job may not do this: " + "; ".join(found), "UnsafeJob")
        return job_guard.confined(spec)

    def _manifest(self, ctx: Context, params: RunJobBase, name: str) -> dict[str, Any]:
        spec = self._spec(ctx, params)
        spec.setdefault("ttlSecondsAfterFinished", params.ttl_seconds_after_finished)
        spec.setdefault("backoffLimit", 0)
        pod_spec = spec.setdefault("template", {}).setdefault("spec", {})
        pod_spec.setdefault("restartPolicy", "Never")
        t = ctx.target
        identity = {
            "PARAMEDIC_REMEDIATION": ctx.remediation_name,
            "PARAMEDIC_TARGET_KIND": t.kind,
            "PARAMEDIC_TARGET_NAME": t.name,
            "PARAMEDIC_TARGET_NAMESPACE": t.namespace or "",
        }
        for container in pod_spec.get("containers") or []:
            env = container.setdefault("env", [])
            present = {e.get("name") for e in env}
            env.extend({"name": k, "value": v} for k, v in identity.items() if k not in present)
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": ctx.remediation_namespace,
                "labels": {**(params.template.labels or {}), REMEDIATION_LABEL: ctx.remediation_name},
                "annotations": params.template.annotations or {},
                "ownerReferences": [
                    {
                        "apiVersion": "paramedic.dev/v1alpha1",
                        "kind": "Remediation",
                        "name": ctx.remediation_name,
                        "uid": ctx.remediation_uid,
                    }
                ],
            },
            "spec": spec,
        }

    def apply(self, ctx: Context, params: RunJobBase, plan: Plan) -> Done | InProgress:
        name = str(plan.changes["job"])
        namespace = ctx.remediation_namespace
        try:
            job = ctx.clients.plain(ctx.clients.batch.read_namespaced_job(name, namespace))
        except ApiException as exc:
            if exc.status != 404:
                raise
            try:
                ctx.clients.batch.create_namespaced_job(namespace, self._manifest(ctx, params, name))
            except ApiException as create_error:
                if create_error.status == 422:
                    raise ActionFailed(f"the Job template is invalid: {create_error.body}", "InvalidJob") from None
                if create_error.status != 409:
                    raise
            return InProgress(f"Job {namespace}/{name} created", retry_after=1.0)
        status = job.get("status") or {}
        conditions = {c["type"]: c for c in status.get("conditions") or [] if c.get("status") == "True"}
        result = {"job": name, "succeeded": status.get("succeeded", 0), "failed": status.get("failed", 0)}
        if "Complete" in conditions:
            return Done(f"Job {namespace}/{name} succeeded", result)
        if "Failed" in conditions:
            failed = conditions["Failed"]
            raise ActionFailed(
                f"Job {namespace}/{name} failed: {failed.get('reason', '')} {failed.get('message', '')}".strip(),
                "JobFailed",
            )
        return InProgress(f"Job {namespace}/{name} running ({status.get('active', 0)} active)", retry_after=1.0)


ACTION = RunJob()
