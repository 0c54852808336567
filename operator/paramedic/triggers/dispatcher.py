"""Turns symptoms into Remediations, at most one open per (runbook, target).

The dispatcher keeps, in memory, the symptoms of failing objects only (a
healthy pod costs nothing) and reads runbooks, namespaces and existing
Remediations from Kopf indexes, so no event ever lists runbooks from the API.
Timed triggers (pending, NotReady, HPA at max) are looked at again by a sweep
once a second, since a pod that stays Pending sends no further events.

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
from paramedic.records import metrics

from .matching import TIMED, Entry, Fire, evaluate
from .symptoms import Symptom

log = logging.getLogger(__name__)

RUNBOOK_LABEL = "paramedic.dev/runbook"
#: At most one write of a runbook's fireCount per this many seconds.
FIRE_RECORD_EVERY = 5.0
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
        self._creating: dict[tuple[str, str], str] = {}
        self._counted: dict[str, str] = {}
        self._fire_counts: dict[str, int] = {}
        self._fired_at: dict[str, str] = {}
        self._fire_written: dict[str, float] = {}  # loop time of the last fireCount write, per runbook
        self._fire_pending: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.fired = 0
        #: spec.requestedBy of the Remediations triggers create: the operator's username, found at start-up.
        self.requester = "paramedic"

    # -- events ----------------------------------------------------------------------------

    async def observe(self, key: str, symptoms: list[Symptom]) -> None:
        """The object ``key`` now has these symptoms (none: it is healthy or gone)."""
        if not symptoms:
            self.symptoms.pop(key, None)
            return
        self.symptoms[key] = symptoms
        await self._evaluate(symptoms)

    async def runbook_changed(self, trigger: str) -> None:
        """A runbook of this trigger kind appeared or changed: existing failures may match it now."""
        await self._evaluate([s for ss in list(self.symptoms.values()) for s in ss if s.trigger == trigger])

    async def sweep(self) -> None:
        await self._evaluate([s for ss in list(self.symptoms.values()) for s in ss if s.trigger in TIMED])

    async def sweep_forever(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("trigger sweep failed")

    # -- deciding ----------------------------------------------------------------------------

    async def _evaluate(self, symptoms: Iterable[Symptom]) -> None:
        moment = datetime.now(UTC)
        for symptom in symptoms:
            for entry in list(self.runbooks(symptom.trigger)):
                fire = evaluate(entry, symptom, moment, self.namespace_labels, self.operator_namespace)
                if fire is not None:
                    await self.fire(fire)

    async def fire(self, fire: Fire) -> str | None:
        """Create the Remediation for ``fire`` unless one is open for the same runbook and target."""
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
        created = await self.run_blocking(self._create, fire, name)
        if created is not True:
            self._creating.pop(slot, None)
            if isinstance(created, dict):  # it exists already (the index had not shown it yet)
                _, existing = known_from(created)
                if existing.open:
                    await self._repeat(existing, fire)
            return None
        self._counted[name] = fingerprint(fire.evidence)
        self.fired += 1
        metrics.FIRED.labels(fire.entry.spec.trigger.kind).inc()
        await self._note_fire(fire.entry)
        return name

    async def _note_fire(self, entry: Entry) -> None:
        """Count the fire on the runbook's status: the first at once, later ones coalesced into at most one
        write per FIRE_RECORD_EVERY seconds (a storm fires a runbook hundreds of times in seconds; one
        write each was a third of the operator's requests). A kill before a deferred write loses only the
        count of those few seconds, as the count is seeded from the status at start-up."""
        self._fire_counts[entry.key] = self._fire_counts.get(entry.key, 0) + 1
        self._fired_at[entry.key] = now()
        if entry.key in self._fire_pending:
            return  # the deferred write will carry this fire too
        loop = asyncio.get_running_loop()
        wait = self._fire_written.get(entry.key, -FIRE_RECORD_EVERY) + FIRE_RECORD_EVERY - loop.time()
        if wait <= 0:
            self._fire_written[entry.key] = loop.time()
            await self.run_blocking(self._record_fire, entry)
            return
        self._fire_pending.add(entry.key)
        task = asyncio.create_task(self._record_fire_later(entry, wait), name=f"fire-count {entry.key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record_fire_later(self, entry: Entry, wait: float) -> None:
        await asyncio.sleep(wait)
        self._fire_pending.discard(entry.key)
        self._fire_written[entry.key] = asyncio.get_running_loop().time()
        await self.run_blocking(self._record_fire, entry)

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
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _create(self, fire: Fire, name: str) -> bool | dict[str, Any]:
        """True when created; the existing object when the name was taken; False on failure."""
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
            self.clients.custom.create_namespaced_custom_object(
                GROUP, VERSION, fire.remediation_namespace, "remediations", body
            )
        except ApiException as exc:
            if exc.status == 409:  # created before (by us, before a restart): exactly once
                try:
                    existing: dict[str, Any] = self.clients.custom.get_namespaced_custom_object(
                        GROUP, VERSION, fire.remediation_namespace, "remediations", name
                    )
                    return existing
                except ApiException:
                    return False
            log.warning("could not create remediation %s: %s %s", name, exc.status, exc.reason)
            return False
        log.info(
            "trigger %s fired: %s -> remediation %s/%s",
            entry.key,
            fire.target.describe(),
            fire.remediation_namespace,
            name,
        )
        return True

    def _count(self, known: Known, evidence: str) -> None:
        """occurrences += 1 on the open Remediation; a conflict with the engine's writes is retried."""
        custom = self.clients.custom
        for _ in range(5):
            try:
                current = custom.get_namespaced_custom_object(
                    GROUP, VERSION, known.namespace, "remediations", known.name
                )
                occurrences = int((current.get("status") or {}).get("occurrences", 1)) + 1
                body = {
                    "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                    "status": {
                        "occurrences": occurrences,
                        "lastTriggeredAt": now(),
                        "lastTriggerFingerprint": evidence,
                    },
                }
                custom.patch_namespaced_custom_object_status(
                    GROUP, VERSION, known.namespace, "remediations", known.name, body
                )
                return
            except ApiException as exc:
                if exc.status != 409:
                    log.warning("could not count a repeated trigger on %s: %s %s", known.name, exc.status, exc.reason)
                    return

    def _record_fire(self, entry: Entry) -> None:
        count, fired_at = self._fire_counts.get(entry.key, 0), self._fired_at.get(entry.key) or now()
        body = {"status": {"fireCount": count, "lastFiredAt": fired_at, "triggerKind": entry.spec.trigger.kind}}
        try:
            if entry.kind == "Runbook":
                self.clients.custom.patch_namespaced_custom_object_status(
                    GROUP, VERSION, entry.namespace, "runbooks", entry.name, body
                )
            else:
                self.clients.custom.patch_cluster_custom_object_status(
                    GROUP, VERSION, "clusterrunbooks", entry.name, body
                )
        except ApiException as exc:
            log.debug("could not record the fire on %s: %s", entry.key, exc.reason)

    def mark_armed(self, plural: str, body: Mapping[str, Any], trigger: str, problem: str = "") -> None:
        """Record on the runbook which trigger the operator now watches for it. An Alertmanager runbook
        also gets its Ready condition: False, with the problem (an invalid pattern), when it is skipped."""
        meta = body["metadata"]
        status: dict[str, Any] = {"triggerKind": trigger, "observedGeneration": meta.get("generation")}
        if trigger == "alertmanager":
            status["lastError"] = problem
            status["conditions"] = [
                {
                    "type": "Ready",
                    "status": "False" if problem else "True",
                    "reason": "InvalidPattern" if problem else "Armed",
                    "message": problem or "alerts from the webhook are matched",
                    "lastTransitionTime": now(),
                    "observedGeneration": meta.get("generation"),
                }
            ]
        patch = {"status": status}
        try:
            if meta.get("namespace"):
                self.clients.custom.patch_namespaced_custom_object_status(
                    GROUP, VERSION, meta["namespace"], plural, meta["name"], patch
                )
            else:
                self.clients.custom.patch_cluster_custom_object_status(GROUP, VERSION, plural, meta["name"], patch)
        except ApiException as exc:
            log.debug("could not mark %s %s armed: %s", plural, meta["name"], exc.reason)

    def seed_fire_count(self, key: str, count: int) -> None:
        self._fire_counts[key] = max(self._fire_counts.get(key, 0), count)


def fingerprint(evidence: Mapping[str, str]) -> str:
    """What a repeated trigger is compared by: the evidence, less when the failure started."""
    text = "|".join(f"{k}={v}" for k, v in sorted(evidence.items()) if k != "since")
    return hashlib.sha256(text.encode()).hexdigest()[:16]
