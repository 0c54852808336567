"""Turns symptoms into Remediations, at most one open per (runbook, target).

The dispatcher keeps, in memory, the symptoms of failing objects only (a
healthy pod costs nothing) and reads runbooks, namespaces and existing
Remediations from Kopf indexes, so no event ever lists runbooks from the API.
Timed triggers (pending, NotReady, HPA at max) are looked at again by a sweep
once a second, since a pod that stays Pending sends no further events. The
same sweep writes the runbooks' fire counters, coalesced (``counters``).

A Remediation's name is derived from (runbook, target, occurrence): the same
failure seen twice, by two events or across an operator restart, maps to the
same name, and the API server's 409 makes creation exactly-once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from paramedic.api.common import API_VERSION, GROUP, VERSION
from paramedic.api.remediation import TERMINAL_PHASES, bounded_evidence
from paramedic.kube import ApiException, Clients, now
from paramedic.kube.blocking import run_blocking
from paramedic.kube.conflicts import retry_on_conflict
from paramedic.kube.kinds import KINDS, runbook_kind
from paramedic.records import invalid, metrics

from .counters import FireCounters, Write
from .matching import TIMED, Entry, Fire, evaluate
from .symptoms import Symptom

log = logging.getLogger(__name__)

RUNBOOK_LABEL = "paramedic.dev/runbook"
TRIGGER_LABEL = "paramedic.dev/trigger"


@dataclasses.dataclass(frozen=True)
class Known:
    """A Remediation as the index keeps it."""

    namespace: str
    name: str
    phase: str
    occurrence: str
    #: The trigger evidence last counted on it (survives operator restarts in its status).
    fingerprint: str = ""

    @property
    def open(self) -> bool:
        return self.phase not in TERMINAL_PHASES


def known_from(obj: Mapping[str, Any]) -> tuple[tuple[str, str], Known]:
    """A Remediation as the index keeps it, under its (runbook, target) key."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    namespace = meta["namespace"]
    ref = spec.get("runbookRef") or {}
    kind = ref.get("kind", "Runbook")
    runbook = f"{kind}/{namespace if kind == 'Runbook' else ''}/{ref.get('name')}"
    evidence = (spec.get("trigger") or {}).get("evidence") or {}
    known = Known(
        namespace,
        meta["name"],
        status.get("phase", "Pending"),
        (meta.get("annotations") or {}).get("paramedic.dev/occurrence", ""),
        status.get("lastTriggerFingerprint") or fingerprint(evidence),
    )
    return (runbook, target_key(spec.get("target") or {}, namespace)), known


def target_key(target: Mapping[str, Any], default_namespace: str | None) -> str:
    namespace = target.get("namespace") or (default_namespace if target.get("kind") != "Node" else "")
    return f"{target.get('kind')}/{namespace or ''}/{target.get('name')}"


def remediation_name(fire: Fire) -> str:
    digest = hashlib.sha256(
        f"{fire.entry.key}|{target_key(fire.target.dump(), None)}|{fire.occurrence}".encode()
    ).hexdigest()[:10]
    base = f"{fire.entry.name[:30]}-{fire.target.name[:20]}".lower().strip("-.")
    return f"{base}-{digest}"


class Dispatcher:
    def __init__(self, clients: Clients, operator_namespace: str, executor: Executor) -> None:
        self.clients = clients
        self.operator_namespace = operator_namespace
        self.executor = executor
        self.symptoms: dict[str, list[Symptom]] = {}
        # Filled from Kopf indexes (live mappings) by the first handler call.
        self.runbooks: Callable[[str], Iterable[Entry]] = lambda trigger: ()
        self.namespace_labels: Callable[[str], Mapping[str, str] | None] = lambda name: None
        self.known: Callable[[str, str], Iterable[Known]] = lambda runbook, target: ()
        #: Called (on the loop) with the body the API server returned for a Remediation created here.
        self.created: Callable[[dict[str, Any]], None] = lambda body: None
        self._creating: dict[tuple[str, str], str] = {}
        self._counted: dict[str, str] = {}
        self.counters = FireCounters()
        self._tasks: set[asyncio.Task[None]] = set()
        self.fired = 0
        #: spec.requestedBy of the Remediations triggers create: the operator's username, found at start-up.
        self.requester = "paramedic"
        #: Whether this replica may act (paramedic.fencing): a standby holds symptoms and creates nothing.
        self.acting: Callable[[], bool] = lambda: True
        #: Bound to the filled indexes (``watches.bind``): every runbook is known, alerts can be decided.
        self.warm = False

    # -- events ----------------------------------------------------------------------------

    async def observe(self, key: str, symptoms: list[Symptom]) -> None:
        """The object ``key`` now has these symptoms (none: it is healthy or gone)."""
        if not symptoms:
            self.symptoms.pop(key, None)
            return
        self.symptoms[key] = symptoms
        await self._evaluate(symptoms)

    def deliver(self, change: tuple[str, list[Symptom]]) -> None:
        """A change from a stream (on the loop): evaluated in its own task, so the next change is not held up."""
        key, symptoms = change
        if not symptoms:
            self.symptoms.pop(key, None)
            return
        task = asyncio.get_running_loop().create_task(self.observe(key, symptoms))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def runbook_changed(self, trigger: str, runbook: str | None = None) -> None:
        """A runbook of this trigger kind appeared or changed: existing failures may match it now.
        Only that runbook is evaluated: the others saw these failures already."""
        found = [s for ss in list(self.symptoms.values()) for s in ss if s.trigger == trigger]
        await self._evaluate(found, runbook)

    async def act_on_known(self) -> None:
        """Just became the leader: evaluate every failure held, as no new event may come for it."""
        await self._evaluate([s for ss in list(self.symptoms.values()) for s in ss])

    async def sweep(self) -> None:
        await self._evaluate([s for ss in list(self.symptoms.values()) for s in ss if s.trigger in TIMED])

    async def sweep_forever(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
                await self.flush_counts()
            except Exception:
                log.exception("trigger sweep failed")

    # -- deciding ----------------------------------------------------------------------------

    async def _evaluate(self, symptoms: Iterable[Symptom], runbook: str | None = None) -> None:
        """The runbooks of each trigger kind are picked once per call, not once per symptom: a runbook's
        status write re-evaluates every failure against that one runbook, and in a storm of 1,000 with
        200 runbooks, filtering the runbooks per symptom held the event loop for 200,000 comparisons."""
        moment = datetime.now(UTC)
        entries: dict[str, list[Entry]] = {}
        for symptom in symptoms:
            if symptom.trigger not in entries:
                found = self.runbooks(symptom.trigger)
                entries[symptom.trigger] = [e for e in found if runbook is None or e.key == runbook]
            for entry in entries[symptom.trigger]:
                fire = evaluate(entry, symptom, moment, self.namespace_labels, self.operator_namespace)
                if fire is not None:
                    await self.fire(fire)

    async def fire(self, fire: Fire) -> str | None:
        """Create the Remediation for ``fire`` unless one is open for the same runbook and target."""
        if not self.acting():  # fencing: a standby creates nothing (act_on_known, once it leads)
            return None
        target = target_key(fire.target.dump(), None)
        slot = (fire.entry.key, target)
        known = list(self.known(fire.entry.key, target))
        open_ = next((k for k in known if k.open), None)
        if open_ is None and slot in self._creating:
            open_ = Known(fire.remediation_namespace, self._creating[slot], "Pending", fire.occurrence)
        if open_ is not None:
            await self._repeat(open_, fire)
            return None
        if any(k.occurrence == fire.occurrence for k in known):
            return None  # this very failure was remediated already
        name = remediation_name(fire)
        self._creating[slot] = name
        created, body = await self.run_blocking(self._create, fire, name)
        if not created:
            self._creating.pop(slot, None)
            if body is not None:  # it exists already (the index had not shown it yet)
                _, existing = known_from(body)
                if existing.open:
                    await self._repeat(existing, fire)
            return None
        if body is not None:
            self.created(body)
        self._counted[name] = fingerprint(fire.evidence)
        self.fired += 1
        metrics.FIRED.labels(fire.entry.spec.trigger.kind).inc()
        self.counters.fired(fire.entry.key, now())
        await self.flush_counts()
        return name

    async def _repeat(self, open_: Known, fire: Fire) -> None:
        """Count the trigger on the open Remediation, once per new evidence."""
        seen = self._counted.get(open_.name, open_.fingerprint)
        if seen != fingerprint(fire.evidence):
            self._counted[open_.name] = fingerprint(fire.evidence)
            await self.run_blocking(self._count, open_, fingerprint(fire.evidence))

    def forget_created(self, runbook: str, target: str) -> None:
        """The index now shows the Remediation; the local note is no longer needed."""
        self._creating.pop((runbook, target), None)

    # -- API calls (in the executor) ---------------------------------------------------------

    async def run_blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await run_blocking(self.executor, fn, *args)

    def _create(self, fire: Fire, name: str) -> tuple[bool, dict[str, Any] | None]:
        """(True, the created object); (False, the existing object) when the name was taken; (False, None)
        on failure."""
        entry = fire.entry
        body = {
            "apiVersion": API_VERSION,
            "kind": "Remediation",
            "metadata": {
                "name": name,
                "labels": {RUNBOOK_LABEL: entry.name[:63], TRIGGER_LABEL: entry.spec.trigger.kind},
                "annotations": {"paramedic.dev/occurrence": fire.occurrence[:256]},
            },
            "spec": {
                "runbookRef": {"kind": entry.kind, "name": entry.name},
                "target": fire.target.dump(),
                "reason": f"{entry.spec.trigger.kind} on {fire.evidence.get('object', fire.target.describe())}",
                "trigger": {
                    "kind": entry.spec.trigger.kind,
                    "evidence": bounded_evidence(fire.evidence),
                    "firedAt": now(),
                },
                "requestedBy": self.requester,
            },
        }
        try:
            created: dict[str, Any] = self.clients.custom.create_namespaced_custom_object(
                GROUP, VERSION, fire.remediation_namespace, "remediations", body
            )
        except ApiException as exc:
            if exc.status == 409:  # created before (by us, before a restart): exactly once
                try:
                    existing: dict[str, Any] = self.clients.custom.get_namespaced_custom_object(
                        GROUP, VERSION, fire.remediation_namespace, "remediations", name
                    )
                    return False, existing
                except ApiException:
                    return False, None
            log.warning("could not create remediation %s: %s %s", name, exc.status, exc.reason)
            return False, None
        log.info(
            "trigger %s fired: %s -> remediation %s/%s",
            entry.key,
            fire.target.describe(),
            fire.remediation_namespace,
            name,
        )
        return True, created

    def _count(self, known: Known, evidence: str) -> None:
        """occurrences += 1 on the open Remediation; a conflict with the engine's writes is retried."""
        remediations = KINDS["Remediation"]

        def attempt() -> None:
            current = remediations.read(self.clients, known.name, known.namespace)
            occurrences = int((current.get("status") or {}).get("occurrences", 1)) + 1
            body = {
                "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                "status": {"occurrences": occurrences, "lastTriggeredAt": now(), "lastTriggerFingerprint": evidence},
            }
            remediations.patch_status(self.clients, known.name, known.namespace, body)

        try:
            retry_on_conflict(attempt)
        except ApiException as exc:
            log.warning("could not count a repeated trigger on %s: %s %s", known.name, exc.status, exc.reason)

    async def flush_counts(self) -> None:
        """Write the fire counters owed now (at most one write per runbook per interval).
        The counters are only touched here, on the loop; the executor only makes the call."""
        if not self.acting():  # fencing: a standby writes no status
            return
        for write in self.counters.claim(asyncio.get_running_loop().time()):
            outcome = "failed"
            try:
                outcome = await self.run_blocking(self.write_count, write)
            finally:
                self.counters.done(write, written=outcome == "written")
                if outcome == "gone":
                    self.counters.forget(write.key)

    def write_count(self, write: Write) -> str:
        """Patch the runbook's status: "written", "gone" (the runbook was deleted) or "failed" (retried)."""
        kind, namespace, name = write.key.split("/", 2)
        body = {"status": {"fireCount": write.fire_count, "lastFiredAt": write.last_fired_at}}
        try:
            KINDS[kind].patch_status(self.clients, name, namespace or None, body)
        except ApiException as exc:
            if exc.status == 404:
                return "gone"
            log.warning("could not write the fire count of %s (retried): %s", write.key, exc.reason)
            return "failed"
        return "written"

    def flush_all_counts(self) -> None:
        """At shutdown (the loop makes no more decisions): every count owed, whatever the interval."""
        if not self.acting():  # fencing: a standby (or a leader that lost its permit) writes no status
            return
        for write in self.counters.pending():
            self.write_count(write)

    def mark_armed(self, plural: str, body: Mapping[str, Any], trigger: str, problem: str = "") -> None:
        """Record on the runbook which trigger the operator now watches for it, and its Ready condition: True
        (Armed), or False with the problem (an Alertmanager runbook's invalid pattern) when it is skipped. A
        PromQL runbook's Ready is the poller's to say (whether its query evaluates: triggers/prometheus.py)."""
        if not self.acting():  # fencing: a standby writes no status (the leader marks it)
            return
        meta = body["metadata"]
        status: dict[str, Any] = {"triggerKind": trigger, "observedGeneration": meta.get("generation")}
        if trigger == "alertmanager":
            status["lastError"] = problem
        if trigger != "prometheus":
            reason = "InvalidPattern" if problem else "Armed"
            said = problem or ARMED.get(trigger, f"the {trigger} trigger is watched")
            ready = invalid.ready_condition(body.get("status"), not problem, reason, said, meta.get("generation"))
            status["conditions"] = invalid.with_ready(body.get("status"), ready)
        patch = {"status": status}
        try:
            runbook_kind(plural).patch_status(self.clients, meta["name"], meta.get("namespace"), patch)
        except ApiException as exc:
            log.debug("could not mark %s %s armed: %s", plural, meta["name"], exc.reason)

    def seed_fire_count(self, key: str, count: int) -> None:
        self.counters.seed(key, count)


#: What a runbook's Ready condition says once its trigger is armed (others: "the <kind> trigger is watched").
ARMED = {
    "manual": "no trigger: Remediations of this runbook are created by people",
    "alertmanager": "alerts from the webhook are matched",
}


def fingerprint(evidence: Mapping[str, str]) -> str:
    """What a repeated trigger is compared by: the evidence, less when the failure started."""
    text = "|".join(f"{k}={v}" for k, v in sorted(evidence.items()) if k != "since")
    return hashlib.sha256(text.encode()).hexdigest()[:16]
