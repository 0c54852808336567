"""Does this runbook's trigger fire for this symptom? Pure logic.

The runbook index (``watches.py``, Kopf indexes keyed by trigger kind) narrows
the candidates to runbooks of the symptom's trigger kind; this module applies each runbook's own parameters
(restart threshold, reasons, containers, durations), its target selector and
its scope (own namespace for a Runbook, ``target.namespaces`` and
``allowedNamespaces`` for a ClusterRunbook).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime

from paramedic.api.common import ObjectRef, parse_duration
from paramedic.api.runbook import RunbookSpec
from paramedic.kube.kinds import WORKLOADS, api_version
from paramedic.kube.selectors import matches
from paramedic.policy.scope import refusal

from .series import Matcher
from .symptoms import Symptom


@dataclasses.dataclass(frozen=True)
class Entry:
    """A runbook as the index keeps it."""

    kind: str  # Runbook or ClusterRunbook
    name: str
    namespace: str | None
    spec: RunbookSpec
    #: The Alertmanager trigger's matchers, compiled once when the runbook is indexed.
    matchers: tuple[Matcher, ...] = ()
    #: Why the runbook cannot be used (an invalid pattern); it is skipped, and its status says so.
    problem: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace or ''}/{self.name}"


@dataclasses.dataclass(frozen=True)
class Fire:
    """A runbook to start against a target, and why."""

    entry: Entry
    target: ObjectRef
    remediation_namespace: str
    occurrence: str
    evidence: Mapping[str, str]


def _due(since: datetime | None, duration: str, now: datetime) -> bool:
    return since is not None and since + parse_duration(duration) <= now


def _trigger_holds(spec: RunbookSpec, symptom: Symptom, now: datetime) -> bool:
    trigger = spec.trigger
    if symptom.trigger == "podCrashLoop" and trigger.pod_crash_loop is not None:
        crash = trigger.pod_crash_loop
        return (
            symptom.facts.get("reason") in crash.reasons
            and int(symptom.facts.get("restartCount", "0")) >= crash.min_restarts
            and (not crash.containers or symptom.container in crash.containers)
        )
    if symptom.trigger == "podOOMKilled" and trigger.pod_oom_killed is not None:
        oom = trigger.pod_oom_killed
        recent = symptom.since is not None and symptom.since + parse_duration(oom.within) >= now
        return recent and (not oom.containers or symptom.container in oom.containers)
    if symptom.trigger == "podPending" and trigger.pod_pending is not None:
        pending = trigger.pod_pending
        return symptom.facts.get("reason") in pending.reasons and _due(symptom.since, pending.for_, now)
    if symptom.trigger == "nodeNotReady" and trigger.node_not_ready is not None:
        return _due(symptom.since, trigger.node_not_ready.for_, now)
    if symptom.trigger == "hpaAtMax" and trigger.hpa_at_max is not None:
        return _due(symptom.since, trigger.hpa_at_max.for_, now)
    return False


#: Triggers whose symptoms must be looked at again as time passes, without a new event.
TIMED = frozenset({"podPending", "nodeNotReady", "hpaAtMax"})


def target_for(entry: Entry, symptom: Symptom) -> ObjectRef | None:
    """The Remediation's target: the failing object, or its workload when the runbook wants workloads."""
    kinds = entry.spec.target.kinds
    if not kinds or symptom.kind in kinds:
        return ObjectRef(
            api_version=api_version(symptom.kind),
            kind=symptom.kind,
            name=symptom.name,
            namespace=symptom.namespace,
        )
    if symptom.owner and symptom.owner[0] in kinds and symptom.owner[0] in WORKLOADS:
        kind, name = symptom.owner  # a pod symptom lifted to its workload
        return ObjectRef(api_version=api_version(kind), kind=kind, name=name, namespace=symptom.namespace)
    return None


def scope(
    entry: Entry,
    namespace: str | None,
    namespace_labels: Callable[[str], Mapping[str, str] | None],
    operator_namespace: str,
) -> str | None:
    """The namespace the Remediation goes in, or None when the runbook may not act on ``namespace``.

    The Remediation lives in the target's namespace (a Runbook's own), or for
    a node in the operator's; whether the runbook may act there is
    ``policy.scope``'s rule, the one the engine checks again before each step.
    """
    if entry.kind == "Runbook":
        home = entry.namespace or ""
    elif namespace is None:
        home = operator_namespace
    elif namespace_labels(namespace) is None:
        return None  # a namespace the index does not know (yet): nothing admits it
    else:
        home = namespace
    refused = refusal(entry.kind, entry.name, entry.spec, "", namespace, home, operator_namespace, namespace_labels)
    return home if refused is None else None


def evaluate(
    entry: Entry,
    symptom: Symptom,
    now: datetime,
    namespace_labels: Callable[[str], Mapping[str, str] | None],
    operator_namespace: str,
) -> Fire | None:
    """The Fire this runbook makes of this symptom, or None."""
    if entry.kind == "Runbook" and symptom.namespace != entry.namespace:
        return None  # what ``scope`` would say, before any other work: most runbooks see one namespace
    spec = entry.spec
    if not _trigger_holds(spec, symptom, now):
        return None
    if spec.target.selector is not None and not matches(spec.target.selector, symptom.labels):
        return None
    target = target_for(entry, symptom)
    if target is None:
        return None
    home = scope(entry, symptom.namespace, namespace_labels, operator_namespace)
    if home is None:
        return None
    evidence = {**symptom.facts, "object": symptom.key}
    if symptom.container:
        evidence["container"] = symptom.container
    if symptom.since is not None:
        evidence["since"] = symptom.since.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Fire(entry, target, home, symptom.occurrence, evidence)
