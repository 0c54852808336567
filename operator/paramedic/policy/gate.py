"""The rate-limit gate an automatic Remediation passes before it acts.

The budget lives in the cluster: each RateLimitPolicy's status holds a ledger
of the Remediations it let through, so an operator restart or failover never
resets the budget. Admission is idempotent: a Remediation already in the
ledger is admitted again without spending anything (the operator may die
between admission and acting).

In a storm, hundreds of Remediations of one policy ask at once. Asking one by
one, each read the policy, lost the optimistic-concurrency race to the others
and retried (up to 10 times): hundreds of GETs and conflicting patches of one
object. Instead, every policy has one in-process queue in the acting replica:
whoever finds the queue's turn free decides *everyone waiting* in one pass
(``decide_batch``) and records the batch with one ledger write, while newcomers
queue up for the next pass. The write keeps its resourceVersion precondition
as the last line of defence (another replica, or a person editing the
policy): on a conflict the batch is decided again from a fresh read. A batch
that spends nothing and settles nothing writes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from paramedic.api.common import GROUP, VERSION, ObjectRef, parse_duration, utcnow
from paramedic.api.policies import LedgerEntry, RateLimitPolicySpec, RateLimitPolicyStatus
from paramedic.api.remediation import TERMINAL_PHASES
from paramedic.kube import ApiException, Clients, parse_time
from paramedic.kube.conflicts import Conflict, is_conflict, retry_on_conflict
from paramedic.records import invalid

from .access import LoadedRunbook, Refused
from .conditions import Trip
from .ratelimit import Candidate, Decision, decide_batch, prune
from .views import Remediations, TargetCounts, runbook_key, stamp

log = logging.getLogger(__name__)

DEFAULT_POLICY = "default"
PLURAL = "ratelimitpolicies"
#: A batch that would write nothing may decide from a policy read this recently (or written by us).
FRESH = 2.0


@dataclasses.dataclass
class _Waiting:
    candidate: Candidate
    runbook: LoadedRunbook
    target: ObjectRef
    #: Its creationTimestamp, and whether a trigger created it: what the storm breaker counts.
    created: str = ""
    automatic: bool = False
    decision: Decision | None = None
    error: BaseException | None = None


@dataclasses.dataclass
class _Queue:
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    turn: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    waiting: list[_Waiting] = dataclasses.field(default_factory=list)
    #: The policy as last read or written (the write's response is its latest state), and when.
    policy: dict[str, Any] | None = None
    read_at: float = 0.0


class Gate:
    def __init__(
        self, clients: Clients, operator_namespace: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.clients = clients
        self.operator_namespace = operator_namespace
        self.clock = clock
        self.remediations = Remediations()
        self.targets = TargetCounts(clients)
        self._queues: dict[tuple[str, str], _Queue] = {}
        self._lock = threading.Lock()
        #: One pass at a time across policies, so cluster-wide in-flight places are counted once.
        self._cluster_turn = threading.Lock()
        #: Each policy's unfinished ledger entries as its last pass left them.
        self._unfinished: dict[tuple[str, str], list[LedgerEntry]] = {}
        #: When each policy's storm breaker last refused, for its StormActive condition (policy_status).
        self.trips: dict[tuple[str, str], Trip] = {}
        #: Automatic Remediations that asked for admission, per runbook: name -> creationTimestamp. The index
        #: is fed by a watch, and a driver starts from its create's response, so a storm's latest Remediations
        #: ask before the index holds them; the breaker counts them from here too (passes are serial).
        self._asked: dict[str, dict[str, str]] = {}

    def policy_location(self, runbook: LoadedRunbook, namespace: str) -> tuple[str, str]:
        ref = runbook.spec.rate_limit_policy_ref
        if ref is None:
            return self.operator_namespace, DEFAULT_POLICY
        return (namespace if not runbook.cluster_scoped else self.operator_namespace), ref.name

    def admit(
        self,
        remediation: dict[str, Any],
        runbook: LoadedRunbook,
        target: ObjectRef,
        also: tuple[tuple[str, str], ...] = (),
    ) -> Decision:
        """Wait for this policy's next pass and return its decision on ``remediation``. ``also``: a fanned-out
        step's targets, (description, namespace) each, which spend one entry each, all or none."""
        meta = remediation["metadata"]
        candidate = Candidate(
            remediation=f"{meta['namespace']}/{meta['name']}",
            runbook=runbook_key(runbook.kind, meta["namespace"], runbook.name),
            target=target.describe(),
            namespace=target.namespace or "",
            also=also,
        )
        where = self.policy_location(runbook, meta["namespace"])
        with self._lock:
            queue = self._queues.setdefault(where, _Queue())
        me = _Waiting(
            candidate,
            runbook,
            target,
            meta.get("creationTimestamp") or "",
            bool((remediation.get("spec") or {}).get("trigger")),
        )
        with queue.lock:
            queue.waiting.append(me)
        with queue.turn:
            if me.decision is None and me.error is None:  # nobody decided for us meanwhile: decide for everyone
                with queue.lock:
                    batch, queue.waiting = queue.waiting, []
                self._pass(where, queue, batch)
        if me.error is not None:
            raise me.error
        assert me.decision is not None
        return me.decision

    # -- one pass --------------------------------------------------------------------------

    def _pass(self, where: tuple[str, str], queue: _Queue, batch: list[_Waiting]) -> None:
        try:
            with self._cluster_turn:
                decisions, wrote = self._decide(where, queue, batch)
        except BaseException as exc:  # every waiter hears it, or they would wait forever
            for waiting in batch:
                waiting.error = exc
            raise
        for waiting in batch:
            waiting.decision = decisions[waiting.candidate.remediation]
        tripped = [d for d in decisions.values() if d.reason == "StormBreaker"]
        if tripped:
            self.trips[where] = Trip(self.clock(), tripped[-1].message)
        outcome = Counter("Admitted" if d.admitted else d.reason for d in decisions.values())
        log.info(
            "admission on RateLimitPolicy %s/%s: %d candidates decided in one pass (%s); ledger %s",
            *where,
            len(batch),
            ", ".join(f"{n} {reason}" for reason, n in sorted(outcome.items())),
            "written" if wrote else "unchanged",
        )

    def _decide(self, where: tuple[str, str], queue: _Queue, batch: list[_Waiting]) -> tuple[dict[str, Decision], bool]:
        def attempt() -> tuple[dict[str, Decision], bool]:
            policy = queue.policy
            if policy is None:
                policy = self._policy(*where)
                queue.policy, queue.read_at = policy, time.monotonic()
            try:
                spec = RateLimitPolicySpec.model_validate(policy.get("spec") or {})
                recorded = RateLimitPolicyStatus.model_validate(policy.get("status") or {}).ledger
            except ValidationError as exc:
                queue.policy = None  # read again next pass: an edit is what fixes it
                raise self._invalid(policy, exc) from None
            if (invalid.ready(policy.get("status")) or {}).get("reason") == invalid.REASON:
                queue.policy = None  # fixed: say so (once: the next pass reads the policy as that write left it)
                invalid.valid_again(self.clients, PLURAL, policy)
            moment = self.clock()
            ledger = prune(spec, self._settle(recorded), moment)
            failing: dict[str, int] = {}  # per runbook, counted once per pass
            self._note_asked(batch, spec, moment)
            counted = [self._storm(w, spec, moment, failing) for w in batch]
            elsewhere = self._elsewhere(where) if spec.max_in_flight is not None else []
            written, decisions = decide_batch(spec, ledger, counted, moment, elsewhere)
            if [e.dump() for e in written] == [e.dump() for e in recorded]:
                if queue.policy is not None and time.monotonic() - queue.read_at <= FRESH:
                    self._unfinished[where] = [e for e in written if e.finished_at is None]
                    return decisions, False
                queue.policy = None  # nothing to write, but decided from an old read: decide again from a fresh one
                raise Conflict("decided from an old read")
            try:
                queue.policy, queue.read_at = self._write(policy, written), time.monotonic()
            except ApiException:
                queue.policy = None  # on a 409 (changed meanwhile: another replica, a person) decide again, fresh
                raise
            self._unfinished[where] = [e for e in written if e.finished_at is None]
            return decisions, True

        try:
            return retry_on_conflict(attempt)
        except (Conflict, ApiException) as exc:
            if not is_conflict(exc):
                raise
            reason = "could not update the rate-limit ledger (too much contention)"
            raise Refused("RateLimitContention", reason, "Failed") from None

    # -- what the decision needs -------------------------------------------------------------

    def _policy(self, namespace: str, name: str) -> dict[str, Any]:
        custom = self.clients.custom
        try:
            found: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            return found
        except ApiException as exc:
            if exc.status != 404:
                raise
        if name != DEFAULT_POLICY:
            raise Refused("RateLimitPolicyNotFound", f"RateLimitPolicy {namespace}/{name} not found")
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "RateLimitPolicy",
            "metadata": {"name": DEFAULT_POLICY, "namespace": namespace},
            "spec": RateLimitPolicySpec().dump(),
        }
        try:
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
            log.info("created the default RateLimitPolicy %s/%s", namespace, DEFAULT_POLICY)
        except ApiException as exc:
            if exc.status != 409:
                raise
        created: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        return created

    def _invalid(self, policy: dict[str, Any], exc: ValidationError) -> Refused:
        """The policy cannot be read: said once per generation on the policy, and every waiter is refused
        (Failed, not retried: its Remediation names the policy and the fields)."""
        meta = policy["metadata"]
        root = "spec" if any(e["loc"][:1] != ("ledger",) for e in exc.errors()) else "status"
        message = invalid.explain(exc, root)
        if not invalid.already_said(policy.get("status"), meta.get("generation"), message[:1024]):
            invalid.report(self.clients, PLURAL, "RateLimitPolicy", policy, message)
        return Refused("InvalidRateLimitPolicy", f"RateLimitPolicy {meta['namespace']}/{meta['name']}: {message}")

    def _elsewhere(self, where: tuple[str, str]) -> list[LedgerEntry]:
        """What runs now besides this policy's ledger: Remediations the index shows running (automatic or by
        hand) and other policies' admissions the index shows not finished (one it does not show yet is
        Pending: just admitted). Without an index (a Gate used on its own) the other policies' ledgers this
        Gate has seen."""
        found: dict[str, LedgerEntry] = {}
        for other, entries in list(self._unfinished.items()):
            if other == where:
                continue
            for entry in entries:
                if not self.remediations.bound:
                    found[entry.remediation] = entry
                    continue
                # Admitted Remediations exist (they asked), so the index knows them: one it lacks is deleted.
                seen = self.remediations.find(entry.runbook, entry.remediation)
                if seen is not None and not seen.finished:
                    found[entry.remediation] = entry
        if self.remediations.bound:
            for seen in self.remediations.running():
                found.setdefault(
                    seen.remediation,
                    LedgerEntry(
                        remediation=seen.remediation,
                        runbook=seen.runbook,
                        target=seen.target,
                        namespace=seen.namespace,
                        admitted_at=_time(seen.created),
                    ),
                )
        return list(found.values())

    def _settle(self, ledger: list[LedgerEntry]) -> list[LedgerEntry]:
        """Mark entries whose Remediation has ended (or is gone) as finished: from the index when the
        operator keeps one, by a GET for what the index does not show (and without an index)."""
        settled = []
        for entry in ledger:
            if entry.finished_at is None:
                seen = self.remediations.find(entry.runbook, entry.remediation) if self.remediations.bound else None
                if seen is not None:
                    if seen.finished:
                        entry = entry.model_copy(update={"finished_at": _time(seen.finished_at)})
                else:
                    entry = self._settle_by_reading(entry)
            settled.append(entry)
        return settled

    def _settle_by_reading(self, entry: LedgerEntry) -> LedgerEntry:
        namespace, name = entry.remediation.split("/", 1)
        try:
            rem = self.clients.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "remediations", name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return entry.model_copy(update={"finished_at": utcnow()})
        status = rem.get("status") or {}
        if status.get("phase") in TERMINAL_PHASES:
            return entry.model_copy(update={"finished_at": _time(status.get("finishedAt"))})
        return entry

    def _note_asked(self, batch: list[_Waiting], spec: RateLimitPolicySpec, moment: datetime) -> None:
        """Remember the automatic Remediations of this pass for the storm breaker's count (``_asked``)."""
        if spec.storm_breaker.enabled:
            for waiting in batch:
                if waiting.automatic:
                    asked = self._asked.setdefault(waiting.candidate.runbook, {})
                    asked[waiting.candidate.remediation] = waiting.created or stamp(moment)

    def _storm(
        self, waiting: _Waiting, spec: RateLimitPolicySpec, moment: datetime, failing: dict[str, int]
    ) -> Candidate:
        """The candidate with the storm breaker's counts: recent automatic Remediations of its runbook
        (itself included) and the number of targets in the runbook's scope."""
        if not spec.storm_breaker.enabled:
            return waiting.candidate
        since = moment - parse_duration(spec.storm_breaker.window)
        runbook = waiting.runbook
        key = waiting.candidate.runbook
        if key not in failing:
            known = (
                self.remediations.failing_names(key, since)
                if self.remediations.bound
                else self._failing_by_listing(waiting, since)
            )
            floor = stamp(since)
            asked = {name: at for name, at in self._asked.get(key, {}).items() if at >= floor}
            self._asked[key] = asked  # older ones no longer count: forget them
            failing[key] = len(known | set(asked))
        selector = runbook.spec.target.selector.dump() if runbook.spec.target.selector else None
        return dataclasses.replace(
            waiting.candidate, failing=max(failing[key], 1), targets=self.targets.count(waiting.target, selector)
        )

    def _failing_by_listing(self, waiting: _Waiting, since: datetime) -> set[str]:
        """Without the operator's index (a Gate used on its own): the same count from a LIST."""
        runbook = waiting.runbook
        namespace, _, _ = waiting.candidate.remediation.partition("/")
        selector = f"paramedic.dev/runbook={runbook.name[:63]}"
        custom = self.clients.custom
        if runbook.cluster_scoped:
            items = custom.list_cluster_custom_object(GROUP, VERSION, "remediations", label_selector=selector)["items"]
        else:
            items = custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "remediations", label_selector=selector
            )["items"]
        return {
            f"{r['metadata']['namespace']}/{r['metadata']['name']}"
            for r in items
            if (r.get("spec") or {}).get("trigger")
            and (r["spec"].get("runbookRef") or {}).get("name") == runbook.name
            and datetime.strptime(r["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) >= since
        }

    def _write(self, policy: dict[str, Any], ledger: list[LedgerEntry]) -> dict[str, Any]:
        meta = policy["metadata"]
        body = {
            "metadata": {"resourceVersion": meta["resourceVersion"]},
            "status": {"ledger": [e.dump() for e in ledger]},
        }
        written: dict[str, Any] = self.clients.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, meta["namespace"], PLURAL, meta["name"], body
        )
        return written


def _time(stamp: str | None) -> datetime:
    """A time the API server wrote (creationTimestamp, a status time) for the ledger; now when absent."""
    return parse_time(stamp) if stamp else utcnow()
