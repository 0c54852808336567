"""What an action works with in one step: the target read from the API, and the rules it is held to.

I/O (reads of the target and of namespaces for authorization), apart from
the pure decisions in ``decide``.
"""

from __future__ import annotations

from typing import Any

from paramedic import fencing
from paramedic.actions import REGISTRY
from paramedic.actions.base import Context, Target
from paramedic.api.common import ObjectRef
from paramedic.api.remediation import RemediationSpec, RemediationStatus, StepRecord
from paramedic.api.runbook import Step
from paramedic.kube import Clients
from paramedic.policy import access

from . import targets


def loaded(spec: RemediationSpec, status: RemediationStatus) -> access.LoadedRunbook:
    """The runbook as recorded at acceptance, which every step runs from."""
    return access.parse_runbook(
        spec.runbook_ref.kind,
        {
            "metadata": {"name": spec.runbook_ref.name, "generation": status.runbook_generation or 1},
            "spec": status.runbook_spec or {},
        },
    )


def step_target(
    clients: Clients,
    rem: dict[str, Any],
    spec: RemediationSpec,
    status: RemediationStatus,
    step: Step,
    default: ObjectRef,
    operator_namespace: str,
) -> ObjectRef:
    """A step's own target, held to the same rules as the Remediation's."""
    assert step.target is not None
    ref = step.target
    if ref.kind != "Node" and ref.namespace is None:
        ref = ref.model_copy(update={"namespace": default.namespace or rem["metadata"]["namespace"]})
    access.authorize(clients, loaded(spec, status), ref, rem["metadata"]["namespace"], operator_namespace)
    return ref


def resolve(
    clients: Clients,
    ref: ObjectRef,
    step: Step,
    runbook: access.LoadedRunbook,
    namespace: str,
    operator_namespace: str,
) -> Target:
    """``ref`` resolved to what the step's action works on (a Pod to its Deployment, Node or HPA), held to the
    runbook's rules on the object acted on (its labels included): one step's target, or one of a fanned-out
    set (``fanning``)."""
    target = targets.resolve(clients, ref, REGISTRY[step.action].kinds, step.action)
    acted_on = ObjectRef(api_version=target.api_version, kind=target.kind, name=target.name, namespace=target.namespace)
    labels = dict(target.obj.get("metadata", {}).get("labels") or {})
    access.authorize_acted_on(clients, runbook, acted_on, labels, namespace, operator_namespace)
    return target


def build(
    clients: Clients,
    rem: dict[str, Any],
    spec: RemediationSpec,
    status: RemediationStatus,
    step: Step,
    index: int,
    operator_namespace: str,
    record: StepRecord | None = None,
) -> Context:
    """At plan time the target is resolved; later phases re-read the object the plan recorded
    (a restarted Deployment's old pod is gone, but the step goes on)."""
    meta = rem["metadata"]
    if record is not None and record.target is not None:
        target = targets.reread(clients, record.target)
    else:
        ref = access.target_ref(spec, meta["namespace"])
        if step.target is not None:
            ref = step_target(clients, rem, spec, status, step, ref, operator_namespace)
        target = resolve(clients, ref, step, loaded(spec, status), meta["namespace"], operator_namespace)
    dry_run = spec.dry_run or bool((status.runbook_spec or {}).get("dryRun"))
    inherited = record is not None and record.leadership != fencing.current().epoch  # fencing hook
    return acting_on(clients, rem, spec, status, index, target, dry_run, inherited)


def acting_on(
    clients: Clients,
    rem: dict[str, Any],
    spec: RemediationSpec,
    status: RemediationStatus,
    index: int,
    target: Target,
    dry_run: bool,
    inherited: bool,
) -> Context:
    """The Context of step ``index`` on a resolved ``target``: one step's, or one fanned-out target's
    (``fanning``), with the steps before it as its history."""
    meta = rem["metadata"]
    return Context(
        clients,
        target,
        meta["name"],
        meta["namespace"],
        meta["uid"],
        index,
        tuple(s.dump() for s in status.steps[:index]),
        dry_run=dry_run,
        runbook_kind=spec.runbook_ref.kind,
        inherited=inherited,
    )
