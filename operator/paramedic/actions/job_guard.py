"""The run-time rules for a Job a namespaced Runbook asks the operator to create.

The Runbook schema already admits only a safe subset of JobSpec
(``tenant_job``); this is the second line, applied to the very manifest the
operator is about to send, whatever the schema let through (an older CRD, a
status snapshot written before the schema tightened, a bug): a Job from a
namespaced Runbook may not do more than the namespace's own users could do
with the namespace's ``default`` ServiceAccount. What is unsafe is refused
with every offending field named; what is merely unset is pinned (the
``default`` ServiceAccount, no token mounted), so the pod never runs with an
identity the tenant did not have.

Pure functions over plain dicts, so they are tested without a cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

#: The volume sources a tenant's Job may use: nothing from the node, no ServiceAccount token.
VOLUME_SOURCES = frozenset({"configMap", "secret", "emptyDir", "projected"})
PROJECTED_SOURCES = frozenset({"configMap", "secret", "downwardAPI"})
HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
POD = "spec.template.spec"


def problems(job_spec: Mapping[str, Any]) -> list[str]:
    """Every reason the Job must not be created for a namespaced Runbook, each naming its field."""
    pod = (job_spec.get("template") or {}).get("spec") or {}
    found = []
    for field in ("serviceAccountName", "serviceAccount"):
        if pod.get(field) not in (None, "", "default"):
            found.append(f"{POD}.{field}: a Runbook's Job runs as the namespace's default ServiceAccount")
    if pod.get("automountServiceAccountToken"):
        found.append(f"{POD}.automountServiceAccountToken: a Runbook's Job gets no ServiceAccount token")
    for field in HOST_NAMESPACES:
        if pod.get(field):
            found.append(f"{POD}.{field}: a Runbook's Job may not share the node's namespaces")
    if pod.get("nodeName"):
        found.append(f"{POD}.nodeName: a Runbook's Job may not bypass the scheduler")
    for i, volume in enumerate(pod.get("volumes") or []):
        for kind in sorted(set(volume) - VOLUME_SOURCES - {"name"}):
            found.append(f"{POD}.volumes[{i}].{kind}: a Runbook's Job mounts only {', '.join(sorted(VOLUME_SOURCES))}")
        for j, source in enumerate((volume.get("projected") or {}).get("sources") or []):
            for kind in sorted(set(source) - PROJECTED_SOURCES):
                found.append(
                    f"{POD}.volumes[{i}].projected.sources[{j}].{kind}: a Runbook's Job projects only "
                    + ", ".join(sorted(PROJECTED_SOURCES))
                )
    if ((pod.get("securityContext") or {}).get("windowsOptions") or {}).get("hostProcess"):
        found.append(f"{POD}.securityContext.windowsOptions.hostProcess: a Runbook's Job may not run on the host")
    for kind in CONTAINER_LISTS:
        for i, container in enumerate(pod.get(kind) or []):
            found += _container_problems(f"{POD}.{kind}[{i}].securityContext", container.get("securityContext") or {})
    return found


def _container_problems(where: str, context: Mapping[str, Any]) -> list[str]:
    found = []
    if context.get("privileged"):
        found.append(f"{where}.privileged: a Runbook's Job may not run privileged containers")
    if (context.get("windowsOptions") or {}).get("hostProcess"):
        found.append(f"{where}.windowsOptions.hostProcess: a Runbook's Job may not run on the host")
    if context.get("allowPrivilegeEscalation"):
        found.append(f"{where}.allowPrivilegeEscalation: only false is allowed")
    if (context.get("capabilities") or {}).get("add"):
        found.append(f"{where}.capabilities.add: a Runbook's Job may only drop capabilities")
    return found


def confined(job_spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a Job spec that has no problems, pinned to the namespace's default ServiceAccount
    without a token; the caller refuses specs with problems first."""
    spec = copy.deepcopy(dict(job_spec))
    pod = spec.setdefault("template", {}).setdefault("spec", {})
    pod.pop("serviceAccount", None)
    pod["serviceAccountName"] = "default"
    pod["automountServiceAccountToken"] = False
    return spec
