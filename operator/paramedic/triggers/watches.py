"""Kopf handlers for the trigger side: indexes of runbooks, namespaces and
Remediations, and event handlers for pods, nodes and HPAs.

Only ``kopf.on.event`` and ``kopf.index`` handlers touch pods, nodes and HPAs:
neither stores anything on the object (no progress or last-handled
annotations, no finalizers), so watching 10,000 healthy pods writes nothing.
Kopf runs no handler before every index has been filled from its initial
listing, so the first pod event already sees every runbook and Remediation.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from paramedic.api.common import GROUP, VERSION
from paramedic.api.runbook import ClusterRunbookSpec, RunbookSpec

from . import series, symptoms
from .dispatcher import Dispatcher, Known, known_from
from .matching import Entry

log = logging.getLogger(__name__)


def _entry(kind: str, name: str, namespace: str | None, spec: Any) -> Entry | None:
    model = ClusterRunbookSpec if kind == "ClusterRunbook" else RunbookSpec
    try:
        parsed = model.model_validate(dict(spec))
    except ValidationError as exc:
        log.warning("%s %s is not valid, its trigger is ignored: %s", kind, name, exc)
        return None
    if parsed.trigger.kind == "manual":
        return None
    return Entry(kind, name, namespace, parsed, *compiled(parsed))


def compiled(spec: RunbookSpec) -> tuple[tuple[series.Matcher, ...], str]:
    """The trigger's matchers compiled, or the problem that makes the runbook unusable."""
    trigger = spec.trigger.alertmanager
    if trigger is None:
        return (), ""
    try:
        return series.compile_matchers(trigger.matchers, "spec.trigger.alertmanager.matchers"), ""
    except series.PatternError as exc:
        return (), str(exc)


def _problem(plural: str, spec: Any) -> str:
    """The problem that keeps a valid runbook from being armed (its patterns come from the compile cache)."""
    model = ClusterRunbookSpec if plural == "clusterrunbooks" else RunbookSpec
    try:
        parsed = model.model_validate(dict(spec or {}))
    except ValidationError:
        return ""  # the API server rejects invalid specs; the index logs the rest
    return compiled(parsed)[1]


def register(registry: kopf.OperatorRegistry, dispatcher: Dispatcher) -> None:
    bound: dict[str, Any] = {}

    def bind(kwargs: dict[str, Any]) -> None:
        """Give the dispatcher live views of the indexes (Kopf passes them to every handler)."""
        if bound:
            return
        runbooks, clusterrunbooks = kwargs["runbook_index"], kwargs["clusterrunbook_index"]
        namespaces, remediations = kwargs["namespace_index"], kwargs["remediation_index"]
        dispatcher.runbooks = lambda trigger: [*runbooks.get(trigger, ()), *clusterrunbooks.get(trigger, ())]
        dispatcher.namespace_labels = lambda name: next(iter(namespaces.get(name, ())), None)
        dispatcher.known = lambda runbook, target: list(remediations.get((runbook, target), ()))
        bound["done"] = True

    # -- indexes (the barrier: no handler runs before these are filled) ---------------------

    @kopf.index(GROUP, VERSION, "runbooks", registry=registry, id="runbook_index")
    def runbook_index(name: str, namespace: str | None, spec: Any, status: Any, **_: Any) -> dict[str, Entry] | None:
        entry = _entry("Runbook", name, namespace, spec)
        if entry is None:
            return None
        dispatcher.seed_fire_count(entry.key, int((status or {}).get("fireCount", 0)))
        return {entry.spec.trigger.kind: entry}

    @kopf.index(GROUP, VERSION, "clusterrunbooks", registry=registry, id="clusterrunbook_index")
    def clusterrunbook_index(name: str, spec: Any, status: Any, **_: Any) -> dict[str, Entry] | None:
        entry = _entry("ClusterRunbook", name, None, spec)
        if entry is None:
            return None
        dispatcher.seed_fire_count(entry.key, int((status or {}).get("fireCount", 0)))
        return {entry.spec.trigger.kind: entry}

    @kopf.index("", "v1", "namespaces", registry=registry, id="namespace_index")
    def namespace_index(name: str, labels: Any, **_: Any) -> dict[str, dict[str, str]]:
        return {name: dict(labels)}

    @kopf.index(GROUP, VERSION, "remediations", registry=registry, id="remediation_index")
    def remediation_index(body: Any, **_: Any) -> dict[tuple[str, str], Known]:
        key, known = known_from(body)
        dispatcher.forget_created(*key)
        return {key: known}

    # -- runbook changes re-evaluate the failures already known --------------------------

    @kopf.on.event(GROUP, VERSION, "runbooks", registry=registry)
    @kopf.on.event(GROUP, VERSION, "clusterrunbooks", registry=registry)
    async def runbook_event(
        body: Any, spec: Any, status: Any, type: str | None, resource: kopf.Resource, **kwargs: Any
    ) -> None:
        bind(kwargs)
        if type == "DELETED":
            return
        trigger = next(iter((spec or {}).get("trigger") or {"manual": {}}))
        generation = body["metadata"].get("generation")
        problem = _problem(resource.plural, spec) if trigger == "alertmanager" else ""
        if (
            (status or {}).get("triggerKind") != trigger
            or (status or {}).get("observedGeneration") != generation
            or (trigger == "alertmanager" and (status or {}).get("lastError", "") != problem)
        ):
            # Say the trigger is armed (or why not): our own resource, written only when it changed.
            await dispatcher.run_blocking(dispatcher.mark_armed, resource.plural, body, trigger, problem)
        if trigger != "manual":
            await dispatcher.runbook_changed(trigger)

    # -- the watched objects ---------------------------------------------------------------

    @kopf.on.event("", "v1", "pods", registry=registry)
    async def pod_event(body: Any, type: str | None, namespace: str | None, name: str | None, **kwargs: Any) -> None:
        bind(kwargs)
        key = f"Pod/{namespace}/{name}"
        await dispatcher.observe(key, [] if type == "DELETED" else symptoms.pod_symptoms(body))

    @kopf.on.event("", "v1", "nodes", registry=registry)
    async def node_event(body: Any, type: str | None, name: str | None, **kwargs: Any) -> None:
        bind(kwargs)
        await dispatcher.observe(f"Node//{name}", [] if type == "DELETED" else symptoms.node_symptoms(body))

    first_seen: dict[str, datetime] = {}

    @kopf.on.event("autoscaling", "v2", "horizontalpodautoscalers", registry=registry)
    async def hpa_event(body: Any, type: str | None, namespace: str | None, name: str | None, **kwargs: Any) -> None:
        bind(kwargs)
        key = f"HorizontalPodAutoscaler/{namespace}/{name}"
        found = [] if type == "DELETED" else symptoms.hpa_symptoms(body, first_seen.setdefault(key, datetime.now(UTC)))
        if not found:
            first_seen.pop(key, None)
        await dispatcher.observe(key, found)
