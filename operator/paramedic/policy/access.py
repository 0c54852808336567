"""Who may act on what: the least-privilege rules between Remediations,
runbooks and targets.

- A Runbook is found only in the Remediation's namespace and acts only on
  objects in that namespace; it cannot act on nodes.
- A ClusterRunbook may be used from a namespace only when that namespace's
  labels match its ``allowedNamespaces`` (unset: only the operator's own
  namespace), and acts only in namespaces its ``target.namespaces`` admits.
- The target must be of a kind the runbook accepts and carry its labels.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import ValidationError

from paramedic.api.common import GROUP, VERSION, LabelSelector, ObjectRef
from paramedic.api.remediation import RemediationSpec
from paramedic.api.runbook import ClusterRunbookSpec, RunbookSpec
from paramedic.kube import ApiException, Clients

from .selectors import matches


class Refused(Exception):
    """The Remediation cannot run; ``phase`` is Failed (bad input) or Skipped (nothing to do)."""

    def __init__(self, reason: str, message: str, phase: str = "Failed") -> None:
        super().__init__(message)
        self.reason = reason
        self.phase = phase


@dataclasses.dataclass(frozen=True)
class LoadedRunbook:
    kind: str
    name: str
    generation: int
    spec: RunbookSpec

    @property
    def cluster_scoped(self) -> bool:
        return self.kind == "ClusterRunbook"


def parse_runbook(kind: str, obj: dict[str, Any]) -> LoadedRunbook:
    model = ClusterRunbookSpec if kind == "ClusterRunbook" else RunbookSpec
    meta = obj["metadata"]
    try:
        spec = model.model_validate(obj.get("spec") or {})
    except ValidationError as exc:
        raise Refused("InvalidRunbook", f"{kind} {meta['name']} is invalid: {exc}") from None
    return LoadedRunbook(kind, meta["name"], int(meta.get("generation", 1)), spec)


def load_runbook(clients: Clients, spec: RemediationSpec, namespace: str) -> LoadedRunbook:
    ref = spec.runbook_ref
    try:
        if ref.kind == "Runbook":
            obj = clients.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "runbooks", ref.name)
        else:
            obj = clients.custom.get_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", ref.name)
    except ApiException as exc:
        if exc.status == 404:
            where = f" in namespace {namespace}" if ref.kind == "Runbook" else ""
            raise Refused("RunbookNotFound", f"{ref.kind} {ref.name} not found{where}") from None
        raise
    return parse_runbook(ref.kind, obj)


def target_ref(spec: RemediationSpec, namespace: str) -> ObjectRef:
    """The target with its namespace defaulted to the Remediation's."""
    target = spec.target
    if target.kind != "Node" and target.namespace is None:
        target = target.model_copy(update={"namespace": namespace})
    return target


def _namespace_labels(clients: Clients, name: str) -> dict[str, str]:
    return dict(clients.core.read_namespace(name).metadata.labels or {})


def _admits(clients: Clients, selector: LabelSelector | None, namespace: str, default: bool) -> bool:
    if selector is None:
        return default
    return matches(selector, _namespace_labels(clients, namespace))


def authorize(
    clients: Clients, runbook: LoadedRunbook, target: ObjectRef, namespace: str, operator_namespace: str
) -> None:
    """Raise Refused unless a Remediation in ``namespace`` may run ``runbook`` on ``target``."""
    if not runbook.cluster_scoped:
        if target.kind == "Node":
            raise Refused("ClusterRunbookRequired", "a Runbook cannot act on nodes; use a ClusterRunbook")
        if target.namespace != namespace:
            raise Refused(
                "NamespaceNotAllowed",
                f"Runbook {runbook.name} acts only in namespace {namespace}, not on {target.describe()}",
            )
        return
    spec = runbook.spec
    assert isinstance(spec, ClusterRunbookSpec)
    if namespace != operator_namespace and not _admits(clients, spec.allowed_namespaces, namespace, False):
        raise Refused(
            "NamespaceNotAllowed",
            f"ClusterRunbook {runbook.name} does not allow Remediations from namespace {namespace} "
            "(see its allowedNamespaces)",
        )
    if target.namespace is not None and not _admits(clients, spec.target.namespaces, target.namespace, True):
        raise Refused(
            "NamespaceNotAllowed",
            f"ClusterRunbook {runbook.name} does not act in namespace {target.namespace} (see its target.namespaces)",
        )


def check_target(runbook: LoadedRunbook, target: ObjectRef, obj: dict[str, Any]) -> None:
    """The target object is of a kind, and has the labels, that the runbook accepts."""
    selector = runbook.spec.target
    if selector.kinds and target.kind not in selector.kinds:
        raise Refused(
            "TargetNotAccepted",
            f"{runbook.kind} {runbook.name} accepts {', '.join(selector.kinds)}, not {target.kind}",
        )
    if selector.selector is not None and not matches(selector.selector, obj["metadata"].get("labels") or {}):
        raise Refused("TargetNotAccepted", f"{target.describe()} does not carry the labels {runbook.name} requires")
