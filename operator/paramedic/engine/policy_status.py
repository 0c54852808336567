"""Keeping the policies' own status true: each RateLimitPolicy's ``Frozen`` and ``StormActive`` conditions,
each EscalationPolicy's ``Ready`` and ``observedGeneration`` (``policy.conditions``).

A freeze window begins and ends with the clock, and a storm ends when nothing trips for a window: no event
says so. So the acting replica looks every ``TICK`` seconds at the policies a Kopf index holds (the watch's
copy: no request), asks ``policy.conditions.desired`` what they should say and writes only a transition,
with the resourceVersion it read (a conflict, say with a ledger write, is looked at again next tick). A
healthy policy costs no request at all. A Kopf index rather than a timer: a timer or daemon would put a
finalizer on every policy.

An EscalationPolicy is Ready when every channel's Secret key is there and readable: checked (a GET per
channel) at each new generation, then every 30 s while it is not Ready (so creating the Secret is noticed)
and every 10 minutes while it is. The Secret is read in the policy's own namespace, as the notifier reads
it; the condition says only whether it is there, never a value.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from paramedic.api.common import GROUP, VERSION
from paramedic.api.policies import (
    EscalationPolicySpec,
    EscalationPolicyStatus,
    RateLimitPolicySpec,
    RateLimitPolicyStatus,
    SecretKeyRef,
)
from paramedic.kube import ApiException, Clients
from paramedic.policy.conditions import MISSING, UNREADABLE, desired, escalation_ready
from paramedic.policy.gate import PLURAL, Gate
from paramedic.records import invalid

log = logging.getLogger(__name__)

#: Seconds between looks: how late a Frozen or StormActive condition may follow the clock.
TICK = 5.0
#: Seconds between checks of an EscalationPolicy's Secrets: while it is not Ready, and while it is.
RECHECK_NOT_READY, RECHECK_READY = 30.0, 600.0
ESCALATION_PLURAL = "escalationpolicies"
#: Kopf handler ids whose per-event "succeeded" line says nothing (``paramedic.logs.QuietHandlers``).
QUIET_HANDLERS = ("ratelimitpolicy_bodies", "escalationpolicy_bodies")


class PolicyStatus:
    def __init__(
        self, clients: Clients, gate: Gate, pool: Executor, acting: Callable[[], bool], clock: Callable[[], datetime]
    ) -> None:
        self.clients, self.gate, self.pool, self.acting, self.clock = clients, gate, pool, acting, clock
        self.index: Any = None
        self.escalation_index: Any = None
        #: When each EscalationPolicy's Secrets were last checked (monotonic seconds).
        self.checked: dict[str, float] = {}
        self.task: asyncio.Task[None] | None = None

    def look(self) -> int:
        """One look at every indexed policy; the number of policies written."""
        written = 0
        for store in list((self.index or {}).values()):
            for policy in list(store):
                written += self._one(policy)
        for store in list((self.escalation_index or {}).values()):
            for policy in list(store):
                written += self._escalation(policy)
        return written

    def _one(self, policy: dict[str, Any]) -> int:
        meta = policy["metadata"]
        try:
            spec = RateLimitPolicySpec.model_validate(policy.get("spec") or {})
            conditions = RateLimitPolicyStatus.model_validate(policy.get("status") or {}).conditions
        except ValidationError:
            return 0  # an invalid policy is said once by the gate (records.invalid), not here
        where = (meta["namespace"], meta["name"])
        wanted = desired(spec, conditions, self.clock(), self.gate.trips.get(where), meta.get("generation"))
        if wanted is None:
            return 0
        body = {
            "metadata": {"resourceVersion": meta["resourceVersion"]},
            "status": {"conditions": [c.dump() for c in wanted]},
        }
        try:
            self.clients.custom.patch_namespaced_custom_object_status(GROUP, VERSION, where[0], PLURAL, where[1], body)
        except ApiException as exc:
            if exc.status not in (404, 409):
                log.warning("could not write the conditions of RateLimitPolicy %s/%s: %s", *where, exc.reason)
            return 0
        said = ", ".join(f"{c.type}={c.status}" for c in wanted if c.type in ("Frozen", "StormActive"))
        log.info("RateLimitPolicy %s/%s: %s", *where, said)
        return 1

    def _escalation(self, policy: dict[str, Any]) -> int:
        meta = policy["metadata"]
        key, generation = f"{meta['namespace']}/{meta['name']}", meta.get("generation")
        try:
            spec = EscalationPolicySpec.model_validate(policy.get("spec") or {})
            status = EscalationPolicyStatus.model_validate(policy.get("status") or {})
        except ValidationError:
            return 0  # said once by records.invalid (the notifier and the engine read it)
        ready = invalid.ready(policy.get("status"))
        since = time.monotonic() - self.checked.get(key, float("-inf"))
        due = RECHECK_READY if ready is not None and ready.get("status") == "True" else RECHECK_NOT_READY
        if status.observed_generation == generation and since < due:
            return 0
        self.checked[key] = time.monotonic()
        problems: dict[str, tuple[str, str]] = {}
        try:
            for channel in [c for level in spec.levels for c in level.channels]:
                problem = self._secret(meta["namespace"], channel.by_alias(channel.chosen()[0]))
                if problem is not None:
                    problems[channel.name] = problem
        except ApiException as exc:  # the API server failing says nothing about the policy: ask again later
            log.warning("could not check the Secrets of EscalationPolicy %s: %s", key, exc.reason)
            return 0
        ok, reason, message = escalation_ready(problems)
        said = ready is not None and (ready.get("status"), ready.get("reason"), ready.get("message")) == (
            "True" if ok else "False",
            reason,
            message,
        )
        if said and status.observed_generation == generation:
            return 0
        condition = invalid.ready_condition(policy.get("status"), ok, reason, message, generation)
        body = {
            "metadata": {"resourceVersion": meta["resourceVersion"]},
            "status": {"observedGeneration": generation, "conditions": invalid.with_ready(policy["status"], condition)},
        }
        try:
            self.clients.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, meta["namespace"], ESCALATION_PLURAL, meta["name"], body
            )
        except ApiException as exc:
            self.checked.pop(key, None)  # look again next tick
            if exc.status not in (404, 409):
                log.warning("could not write the status of EscalationPolicy %s: %s", key, exc.reason)
            return 0
        log.info("EscalationPolicy %s: Ready=%s (%s) %s", key, ok, reason, message)
        return 1

    def _secret(self, namespace: str, ref: SecretKeyRef) -> tuple[str, str] | None:
        """Why a channel's Secret key cannot be read, or None when it is there."""
        try:
            secret = self.clients.core.read_namespaced_secret(ref.name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return MISSING, f"Secret {ref.name} not found"
            if exc.status == 403:
                return UNREADABLE, f"the operator may not read Secret {ref.name} (bind paramedic-secret-reader)"
            raise
        if not (secret.data or {}).get(ref.key):
            return MISSING, f"Secret {ref.name} has no key {ref.key}"
        return None

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(TICK)
            if not self.acting():
                continue
            try:
                await loop.run_in_executor(self.pool, self.look)
            except Exception:
                log.exception("could not look at the RateLimitPolicies' conditions")


def _seen(namespace: str | None, name: str, body: Any, kept: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """A policy as its index keeps it: a deep copy (Kopf's body is a live view) of its identity, its spec and
    the ``kept`` keys of its status, the only parts a look reads."""
    meta, status = body["metadata"], dict(body.get("status") or {})
    return {
        f"{namespace}/{name}": {
            "metadata": {
                "namespace": namespace,
                "name": name,
                "generation": meta.get("generation"),
                "resourceVersion": meta["resourceVersion"],
            },
            "spec": copy.deepcopy(dict(body.get("spec") or {})),
            "status": copy.deepcopy({k: status[k] for k in kept if status.get(k) is not None}),
        }
    }


def register(
    registry: kopf.OperatorRegistry, clients: Clients, gate: Gate, pool: Executor, acting: Callable[[], bool]
) -> PolicyStatus:
    keeper = PolicyStatus(clients, gate, pool, acting, lambda: datetime.now(UTC))

    @kopf.index(GROUP, VERSION, PLURAL, registry=registry, id="ratelimitpolicy_bodies")
    async def ratelimitpolicy_bodies(
        namespace: str | None, name: str, body: Any, **_: Any
    ) -> dict[str, dict[str, Any]]:
        """What a look needs of each policy: its spec, its conditions and the resourceVersion to write with."""
        return _seen(namespace, name, body, ("conditions",))

    @kopf.index(GROUP, VERSION, ESCALATION_PLURAL, registry=registry, id="escalationpolicy_bodies")
    async def escalationpolicy_bodies(
        namespace: str | None, name: str, body: Any, **_: Any
    ) -> dict[str, dict[str, Any]]:
        """The same for EscalationPolicies, with the observedGeneration their status carries."""
        return _seen(namespace, name, body, ("conditions", "observedGeneration"))

    @kopf.on.startup(registry=registry)
    async def start_policy_status(**kwargs: Any) -> None:
        keeper.escalation_index = kwargs["escalationpolicy_bodies"]
        keeper.index = kwargs["ratelimitpolicy_bodies"]
        keeper.task = asyncio.create_task(keeper.run_forever(), name="ratelimitpolicy-conditions")

    @kopf.on.cleanup(registry=registry)
    async def stop_policy_status(**_: Any) -> None:
        if keeper.task is not None:
            keeper.task.cancel()

    return keeper
