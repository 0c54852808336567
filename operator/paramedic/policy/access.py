"""Who may act on what: the least-privilege rules between Remediations,
runbooks and targets.

- A Runbook is found only in the Remediation's namespace and acts only on
  objects in that namespace; it cannot act on nodes.
- A ClusterRunbook may be used from a namespace only when that namespace's
  labels match its ``allowedNamespaces`` (unset: only the operator's own
  namespace). From a tenant's namespace it acts only in that namespace,
  unless its ``target.namespaces`` explicitly admits another; from the
  operator's namespace, where ``target.namespaces`` (unset: every namespace
  ``allowedNamespaces`` admits) says.
- Cluster-scoped objects (nodes) are acted on only by ClusterRunbooks, only
  from Remediations in the operator's namespace (which tenants cannot write),
  and only when the runbook names the kind in ``target.kinds``: its selector
  is then checked on the node itself, never on a pod that happens to run there.
- The target must be of a kind the runbook accepts and carry its labels.

These rules hold for the object an action actually acts on, after a Pod was
resolved to its Deployment or its Node (``authorize_acted_on``), at
acceptance and again before every step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from paramedic.api.common import ObjectRef
from paramedic.api.remediation import RemediationSpec
from paramedic.api.runbook import ClusterRunbookSpec, RunbookSpec
from paramedic.kube import ApiException, Clients
from paramedic.kube.kinds import KINDS
from paramedic.kube.selectors import matches

from . import scope


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


#: (kind, namespace ("" for a ClusterRunbook), name) -> the runbook as the operator's watch last saw it, or None.
Known = Callable[[str, str, str], Mapping[str, Any] | None]


def load_runbook(clients: Clients, spec: RemediationSpec, namespace: str, known: Known | None = None) -> LoadedRunbook:
    """The Remediation's runbook: as the operator's watch delivered it when it has it (no GET per
    Remediation in a storm), else read from the API server."""
    ref = spec.runbook_ref
    seen = known(ref.kind, namespace if ref.kind == "Runbook" else "", ref.name) if known is not None else None
    if seen is not None:
        return parse_runbook(ref.kind, dict(seen))
    try:
        obj = KINDS[ref.kind].read(clients, ref.name, namespace)
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


def authorize(
    clients: Clients, runbook: LoadedRunbook, target: ObjectRef, namespace: str, operator_namespace: str
) -> None:
    """Raise Refused unless a Remediation in ``namespace`` may run ``runbook`` on ``target`` (``policy.scope``)."""
    refused = scope.refusal(
        runbook.kind,
        runbook.name,
        runbook.spec,
        target.describe(),
        target.namespace,
        namespace,
        operator_namespace,
        lambda name: _namespace_labels(clients, name),
    )
    if refused is not None:
        raise Refused(*refused)


def authorize_acted_on(
    clients: Clients,
    runbook: LoadedRunbook,
    acted_on: ObjectRef,
    labels: dict[str, str],
    namespace: str,
    operator_namespace: str,
) -> None:
    """The rules for the object a step really acts on (a Pod's Deployment, or its Node).

    Namespaced objects are held to the namespace rules. A cluster-scoped one
    must also be a kind the runbook names, and carry its labels itself.
    """
    authorize(clients, runbook, acted_on, namespace, operator_namespace)
    if acted_on.namespace is not None:
        return
    selector = runbook.spec.target
    if acted_on.kind not in selector.kinds:
        raise Refused(
            "TargetNotAccepted",
            f"{runbook.kind} {runbook.name} would act on {acted_on.describe()}, but its target.kinds does not "
            f"name {acted_on.kind}",
        )
    if selector.selector is not None and not matches(selector.selector, labels):
        raise Refused("TargetNotAccepted", f"{acted_on.describe()} does not carry the labels {runbook.name} requires")


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
