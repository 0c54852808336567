"""Leader election on a coordination.k8s.io Lease.

Kopf's peering pauses replicas of equal priority but keeps no lease, so it
is not leader election. Here a replica acts only while it holds the Lease:
it waits for it before starting Kopf, renews it, and exits when it cannot
renew in time (crash-only, as controller-runtime does: the Deployment
restarts it as a standby). A standby takes over once the lease has expired,
at most ``duration`` seconds after the leader died. Because the engine
resumes from each Remediation's status, no action is repeated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import os
import socket
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from kubernetes import client

from paramedic.kube import ApiException, Clients
from paramedic.kube.blocking import run_blocking

log = logging.getLogger(__name__)


def identity() -> str:
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclasses.dataclass
class Elector:
    clients: Clients
    namespace: str
    executor: Executor
    name: str = "paramedic-leader"
    duration: float = 15.0
    renew_every: float = 5.0
    me: str = dataclasses.field(default_factory=identity)
    on_change: Callable[[bool], None] = lambda leading: None

    @property
    def api(self) -> client.CoordinationV1Api:
        return client.CoordinationV1Api(self.clients.api_client)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await run_blocking(self.executor, fn, *args)

    async def acquire(self) -> None:
        """Return once this replica holds the lease."""
        announced = False
        while not await self._run(self.try_acquire):
            if not announced:
                log.info("waiting for leadership (lease %s/%s)", self.namespace, self.name)
                announced = True
            await asyncio.sleep(min(self.renew_every, self.duration / 3))
        log.info("became the leader as %s", self.me)
        self.on_change(True)

    async def keep(self) -> None:
        """Renew the lease until it cannot be renewed within its duration; then return (and the caller exits)."""
        last = _now()
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                if await self._run(self.try_acquire):
                    last = _now()
                    continue
                log.error("lost the lease %s/%s to another replica", self.namespace, self.name)
                break
            except Exception as exc:  # an API hiccup: retry until the lease would expire
                log.warning("could not renew the lease: %s", exc)
            if (_now() - last).total_seconds() > self.duration:
                log.error("could not renew the lease for %.0fs", self.duration)
                break
        self.on_change(False)

    def try_acquire(self) -> bool:
        """One attempt: take the lease if it is free, expired or ours; a conflict means someone else won."""
        stamp = _now()
        spec = {
            "holderIdentity": self.me,
            "leaseDurationSeconds": int(self.duration),
            "renewTime": stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = {
                "metadata": {"name": self.name},
                "spec": {**spec, "acquireTime": spec["renewTime"], "leaseTransitions": 0},
            }
            try:
                self.api.create_namespaced_lease(self.namespace, body)
                return True
            except ApiException as create_error:
                if create_error.status == 409:
                    return False
                raise
        holder = lease.spec.holder_identity
        renewed = lease.spec.renew_time
        expired = renewed is None or (stamp - renewed).total_seconds() > (lease.spec.lease_duration_seconds or 0)
        if holder and holder != self.me and not expired:
            return False
        transitions = (lease.spec.lease_transitions or 0) + (0 if holder == self.me else 1)
        body = {
            "metadata": {"name": self.name, "resourceVersion": lease.metadata.resource_version},
            "spec": {
                **spec,
                "leaseTransitions": transitions,
                "acquireTime": (
                    lease.spec.acquire_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                    if holder == self.me and lease.spec.acquire_time
                    else spec["renewTime"]
                ),
            },
        }
        try:
            self.api.replace_namespaced_lease(self.name, self.namespace, body)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def release(self) -> None:
        """Hand the lease over at once on a clean shutdown."""
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
            if lease.spec.holder_identity == self.me:
                body = {
                    "metadata": {"name": self.name, "resourceVersion": lease.metadata.resource_version},
                    "spec": {"holderIdentity": None, "leaseDurationSeconds": int(self.duration)},
                }
                self.api.replace_namespaced_lease(self.name, self.namespace, body)
        except ApiException as exc:
            log.warning("could not release the lease: %s", exc.reason)
