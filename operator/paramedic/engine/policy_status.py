"""Keeping each RateLimitPolicy's ``Frozen`` and ``StormActive`` conditions true (``policy.conditions``).

A freeze window begins and ends with the clock, and a storm ends when nothing trips for a window: no event
says so. So the acting replica looks every ``TICK`` seconds at the policies a Kopf index holds (the watch's
copy: no request), asks ``policy.conditions.desired`` what they should say and writes only a transition,
with the resourceVersion it read (a conflict, say with a ledger write, is looked at again next tick). A
healthy policy costs no request at all. A Kopf index rather than a timer: a timer or daemon would put a
finalizer on every policy.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from paramedic.api.common import GROUP, VERSION
from paramedic.api.policies import RateLimitPolicySpec, RateLimitPolicyStatus
from paramedic.kube import ApiException, Clients
from paramedic.policy.conditions import desired
from paramedic.policy.gate import PLURAL, Gate

log = logging.getLogger(__name__)

#: Seconds between looks: how late a Frozen or StormActive condition may follow the clock.
TICK = 5.0


class PolicyStatus:
    def __init__(
        self, clients: Clients, gate: Gate, pool: Executor, acting: Callable[[], bool], clock: Callable[[], datetime]
    ) -> None:
        self.clients, self.gate, self.pool, self.acting, self.clock = clients, gate, pool, acting, clock
        self.index: Any = None
        self.task: asyncio.Task[None] | None = None
        #: Writes made, for the log and the tests' curiosity (zero while nothing changes).
        self.writes = 0

    def look(self) -> int:
        """One look at every indexed policy; the number of policies written."""
        written = 0
        for store in list((self.index or {}).values()):
            for policy in list(store):
                written += self._one(policy)
        self.writes += written
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


def register(
    registry: kopf.OperatorRegistry, clients: Clients, gate: Gate, pool: Executor, acting: Callable[[], bool]
) -> PolicyStatus:
    keeper = PolicyStatus(clients, gate, pool, acting, lambda: datetime.now(UTC))

    @kopf.index(GROUP, VERSION, PLURAL, registry=registry, id="ratelimitpolicy_bodies")
    async def ratelimitpolicy_bodies(
        namespace: str | None, name: str, body: Any, **_: Any
    ) -> dict[str, dict[str, Any]]:
        """What a look needs of each policy: its spec, its conditions and the resourceVersion to write with."""
        meta = body["metadata"]
        return {
            f"{namespace}/{name}": {
                "metadata": {
                    "namespace": namespace,
                    "name": name,
                    "generation": meta.get("generation"),
                    "resourceVersion": meta["resourceVersion"],
                },
                "spec": copy.deepcopy(dict(body.get("spec") or {})),
                "status": {"conditions": copy.deepcopy(list((body.get("status") or {}).get("conditions") or []))},
            }
        }

    @kopf.on.startup(registry=registry)
    async def start_policy_status(**kwargs: Any) -> None:
        keeper.index = kwargs["ratelimitpolicy_bodies"]
        keeper.task = asyncio.create_task(keeper.run_forever(), name="ratelimitpolicy-conditions")

    @kopf.on.cleanup(registry=registry)
    async def stop_policy_status(**_: Any) -> None:
        if keeper.task is not None:
            keeper.task.cancel()

    return keeper
