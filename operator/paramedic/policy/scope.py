"""Where a runbook may act: the one namespace rule, pure (namespace labels come from the caller).

Triggers ask it before creating a Remediation (``triggers.matching``, labels
from the operator's namespace index); the engine asks it again before every
step (``policy.access``, labels read from the API server). One rule, so the
two can never disagree:

- A Runbook acts only in its own namespace, and never on cluster-scoped
  objects (nodes).
- A cluster-scoped target is acted on only by a ClusterRunbook, from a
  Remediation in the operator's namespace (which tenants cannot write).
- A ClusterRunbook is used from a tenant's namespace only when its
  ``allowedNamespaces`` admits that namespace. It acts where its
  ``target.namespaces`` admits; unset, a tenant's Remediation acts only in
  its own namespace, and one in the operator's namespace acts there or where
  ``allowedNamespaces`` admits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from paramedic.api.common import LabelSelector
from paramedic.api.runbook import ClusterRunbookSpec, RunbookSpec
from paramedic.kube.selectors import matches

#: A namespace's labels, or None when the namespace is not known (then nothing admits it).
NamespaceLabels = Callable[[str], Mapping[str, str] | None]


def _admits(selector: LabelSelector | None, namespace: str, labels: NamespaceLabels) -> bool:
    if selector is None:
        return False
    found = labels(namespace)
    return found is not None and matches(selector, found)


def refusal(
    kind: str,
    name: str,
    spec: RunbookSpec | ClusterRunbookSpec,
    target: str,
    target_namespace: str | None,
    remediation_namespace: str,
    operator_namespace: str,
    labels: NamespaceLabels,
) -> tuple[str, str] | None:
    """(reason, message) when a Remediation in ``remediation_namespace`` may not run this runbook on
    ``target`` (its description) in ``target_namespace`` (None: cluster-scoped); None when it may."""
    cluster = kind == "ClusterRunbook"
    if target_namespace is None:
        if not cluster:
            return "ClusterRunbookRequired", "a Runbook cannot act on nodes; use a ClusterRunbook"
        if remediation_namespace != operator_namespace:
            return "NamespaceNotAllowed", (
                f"{target} is cluster-scoped: only Remediations in the operator's namespace "
                f"{operator_namespace} may act on it, not one in {remediation_namespace}"
            )
    if not cluster:
        if target_namespace != remediation_namespace:
            return (
                "NamespaceNotAllowed",
                f"Runbook {name} acts only in namespace {remediation_namespace}, not on {target}",
            )
        return None
    assert isinstance(spec, ClusterRunbookSpec)
    tenant = remediation_namespace != operator_namespace
    if tenant and not _admits(spec.allowed_namespaces, remediation_namespace, labels):
        return "NamespaceNotAllowed", (
            f"ClusterRunbook {name} does not allow Remediations from namespace {remediation_namespace} "
            "(see its allowedNamespaces)"
        )
    if target_namespace is None:
        return None
    if spec.target.namespaces is not None:
        admitted = _admits(spec.target.namespaces, target_namespace, labels)
        where = "see its target.namespaces"
    elif tenant:
        admitted = target_namespace == remediation_namespace
        where = (
            f"unset target.namespaces: a Remediation in {remediation_namespace} acts only in {remediation_namespace}"
        )
    else:
        admitted = target_namespace == operator_namespace or _admits(spec.allowed_namespaces, target_namespace, labels)
        where = "unset target.namespaces: only namespaces its allowedNamespaces admits"
    if not admitted:
        return "NamespaceNotAllowed", f"ClusterRunbook {name} does not act in namespace {target_namespace} ({where})"
    return None
