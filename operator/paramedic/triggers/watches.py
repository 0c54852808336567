"""Kopf handlers for the trigger side: indexes of runbooks, namespaces and
Remediations; pods, nodes and HPAs are watched by ``stream`` instead.

Pods, nodes and HPAs are only read (a list and a watch): nothing is ever
stored on them, so watching 10,000 healthy pods writes nothing. Their streams
start when the first runbook of a kind that needs them is indexed. Changes of
failing objects are only recorded until the dispatcher is bound to the
indexes, which happens in the first runbook handler: Kopf runs no handler
before every index has been filled from its initial listing, so no decision
is made before every runbook and Remediation is known. A runbook is marked
armed once its stream has listed what it watches, and then evaluated against
what was recorded, so a crash loop that predates the operator is acted on as
the runbook is armed.

A runbook the API server accepted but the model rejects (applied under an
older CRD, or a rule only the operator checks) is skipped by the index and
marked once per generation (``policy.invalid``): ``Ready=False``, reason
``Invalid``, the fields named, one Event, one log line; never an exception
per event.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
from pydantic import ValidationError

from paramedic.api.common import GROUP, VERSION
from paramedic.api.runbook import ClusterRunbookSpec, RunbookSpec
from paramedic.records import invalid

from . import series
from .dispatcher import Dispatcher, Known, known_from
from .matching import Entry
from .stream import Streams

log = logging.getLogger(__name__)


def _entry(kind: str, name: str, namespace: str | None, spec: Any) -> Entry | None:
    model = ClusterRunbookSpec if kind == "ClusterRunbook" else RunbookSpec
    try:
        parsed = model.model_validate(dict(spec))
    except ValidationError:
        return None  # said once per generation, by the event handler (``invalid``); the index runs per event
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


def _invalid(plural: str, spec: Any) -> str:
    """Why the model rejects the spec, naming the fields; empty when it loads."""
    model = ClusterRunbookSpec if plural == "clusterrunbooks" else RunbookSpec
    try:
        model.model_validate(dict(spec or {}))
    except ValidationError as exc:
        return invalid.explain(exc)
    return ""


def _problem(plural: str, spec: Any) -> str:
    """The problem that keeps a valid runbook from being armed (its patterns come from the compile cache)."""
    model = ClusterRunbookSpec if plural == "clusterrunbooks" else RunbookSpec
    try:
        parsed = model.model_validate(dict(spec or {}))
    except ValidationError:
        return ""  # the API server rejects invalid specs; the index logs the rest
    return compiled(parsed)[1]


#: Kopf handler ids whose per-event "succeeded" line says nothing (see ``paramedic.logs.QuietHandlers``).
QUIET_HANDLERS = (
    "runbook_index",
    "clusterrunbook_index",
    "namespace_index",
    "remediation_index",
    "runbook_event",
    "warm",
)


def register(registry: kopf.OperatorRegistry, dispatcher: Dispatcher) -> Streams:
    """Register the trigger side's handlers; the streams they start are returned (stopped at cleanup)."""
    bound: dict[str, Any] = {}
    streams = Streams(dispatcher.clients, dispatcher.deliver)

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
        dispatcher.warm = True

    # -- indexes (the barrier: no handler runs before these are filled) ---------------------

    def indexed(entry: Entry | None, status: Any) -> dict[str, Entry] | None:
        if entry is None:
            return None
        dispatcher.seed_fire_count(entry.key, int((status or {}).get("fireCount", 0)))
        streams.ensure(entry.spec.trigger.kind)
        return {entry.spec.trigger.kind: entry}

    @kopf.index(GROUP, VERSION, "runbooks", registry=registry, id="runbook_index")
    async def runbook_index(
        name: str, namespace: str | None, spec: Any, status: Any, **_: Any
    ) -> dict[str, Entry] | None:
        return indexed(_entry("Runbook", name, namespace, spec), status)

    @kopf.index(GROUP, VERSION, "clusterrunbooks", registry=registry, id="clusterrunbook_index")
    async def clusterrunbook_index(name: str, spec: Any, status: Any, **_: Any) -> dict[str, Entry] | None:
        return indexed(_entry("ClusterRunbook", name, None, spec), status)

    @kopf.index("", "v1", "namespaces", registry=registry, id="namespace_index")
    def namespace_index(name: str, labels: Any, **_: Any) -> dict[str, dict[str, str]]:
        return {name: dict(labels)}

    @kopf.index(GROUP, VERSION, "remediations", registry=registry, id="remediation_index")
    def remediation_index(body: Any, **_: Any) -> dict[tuple[str, str], Known]:
        key, known = known_from(body)
        dispatcher.forget_created(*key)
        return {key: known}

    @kopf.on.event("", "v1", "namespaces", registry=registry, id="warm")
    async def warm(**kwargs: Any) -> None:
        """Binds the indexes even while no runbook exists (a namespace always does): the replica is ready
        (``paramedic.readiness``) once Kopf has filled every index, runbooks or not."""
        bind(kwargs)

    # -- runbook changes re-evaluate the failures already known --------------------------

    @kopf.on.event(GROUP, VERSION, "runbooks", registry=registry)
    @kopf.on.event(GROUP, VERSION, "clusterrunbooks", registry=registry)
    async def runbook_event(
        body: Any, spec: Any, status: Any, name: str, type: str | None, resource: kopf.Resource, **kwargs: Any
    ) -> None:
        bind(kwargs)
        if type == "DELETED":
            return
        kind = "ClusterRunbook" if resource.plural == "clusterrunbooks" else "Runbook"
        generation = body["metadata"].get("generation")
        wrong = _invalid(resource.plural, spec)
        if wrong:
            if not invalid.already_said(status, generation, wrong[:1024]):
                await dispatcher.run_blocking(invalid.report, dispatcher.clients, resource.plural, kind, body, wrong)
            return
        trigger = next(iter((spec or {}).get("trigger") or {"manual": {}}))
        await streams.synced(trigger)
        problem = _problem(resource.plural, spec) if trigger == "alertmanager" else ""
        arm = (
            (status or {}).get("triggerKind") != trigger
            or (status or {}).get("observedGeneration") != generation
            or (trigger == "alertmanager" and (status or {}).get("lastError", "") != problem)
            or (trigger != "prometheus" and (invalid.ready(status) or {}).get("observedGeneration") != generation)
        )
        # A runbook fixed after being Invalid: mark_armed's own Ready replaces the mark (but a PromQL trigger's
        # Ready is its poller's), so it is cleared separately only when no such write follows: one write, not two.
        armed_says_ready = arm and trigger != "prometheus"
        if (
            trigger != "alertmanager"
            and not armed_says_ready
            and (invalid.ready(status) or {}).get("reason") == invalid.REASON
        ):
            await dispatcher.run_blocking(invalid.valid_again, dispatcher.clients, resource.plural, body)
        if arm:
            # Say the trigger is armed (or why not): our own resource, written only when it changed.
            await dispatcher.run_blocking(dispatcher.mark_armed, resource.plural, body, trigger, problem)
        if trigger != "manual":
            await dispatcher.runbook_changed(trigger, f"{kind}/{body['metadata'].get('namespace') or ''}/{name}")

    return streams
