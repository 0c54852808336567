"""The trigger side of the composition root: the dispatcher, the watches and streams that feed it
(``watches.register``), the timed sweep, the PromQL poller and the Alertmanager webhook, started
with Kopf and stopped at its cleanup."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from paramedic import outbound
from paramedic.kube import ApiException, Clients
from paramedic.kube.secrets import secret_text

from . import alertmanager, forward, prometheus, watches
from .dispatcher import Dispatcher

log = logging.getLogger(__name__)

#: The triggers' own threads (creating Remediations, writing runbooks' status): in a storm, creating the
#: Remediations must not queue behind the engine's reconciles of the ones created a moment ago (the shared
#: pool measured 22 s for 200). Twelve, not four: at the full preset four created 24 Remediations/s while
#: the pods crashed at 46/s, and the 200 runbooks' arming patches held a pre-existing crash loop's
#: creation for 2 s.
TRIGGER_WORKERS = 12


@dataclasses.dataclass(frozen=True)
class Sources:
    """Where failures come from besides the watches: a default Prometheus, and the webhook."""

    prometheus_url: str | None = None
    prometheus_ca_file: str | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int | None = None
    #: "namespace/name" of the Secret holding the webhook's bearer token; no token, no webhook.
    webhook_token_secret: str | None = None


class SecretToken:
    """The webhook's bearer token, read from a Secret and re-read at most every 30 s (rotation)."""

    def __init__(self, clients: Clients, ref: str, pool: ThreadPoolExecutor, key: str = "token") -> None:
        self.clients, self.pool, self.key = clients, pool, key
        self.namespace, _, self.name = ref.partition("/")
        self._value: str | None = None
        self._read_at = 0.0

    async def get(self) -> str | None:
        loop = asyncio.get_running_loop()
        if self._value is None or loop.time() - self._read_at > 30:
            try:
                self._value = await loop.run_in_executor(self.pool, self._read)
                self._read_at = loop.time()
            except ApiException as exc:
                log.warning("cannot read the webhook token Secret %s/%s: %s", self.namespace, self.name, exc.reason)
        return self._value

    def _read(self) -> str | None:
        return secret_text(self.clients, self.namespace, self.name, self.key)


class Triggers:
    """The trigger side, registered on a Kopf registry; ``take_over`` once this replica leads."""

    def __init__(
        self,
        registry: kopf.OperatorRegistry,
        clients: Clients,
        namespace: str,
        egress: outbound.Egress,
        sources: Sources,
        pool: ThreadPoolExecutor,
        acting: Callable[[], bool],
    ) -> None:
        self.pool = ThreadPoolExecutor(max_workers=TRIGGER_WORKERS, thread_name_prefix="paramedic-triggers")
        self.dispatcher = Dispatcher(clients, namespace, self.pool)
        self.dispatcher.acting = acting
        self.streams = watches.register(registry, self.dispatcher)
        self.poller = prometheus.Poller(self.dispatcher, sources.prometheus_url, egress, sources.prometheus_ca_file)
        self.clients, self.sources, self.shared_pool = clients, sources, pool
        self.background: list[asyncio.Task[None]] = []
        self.runners: list[Any] = []
        self.leader: forward.LeaderAddress = lambda: None
        self.me = ""

    def forward_to(self, leader: forward.LeaderAddress, me: str) -> None:
        """Where a standby's webhook forwards (the Lease holder's address) and who it says it is."""
        self.leader, self.me = leader, me

    async def start(self) -> None:
        self.background.append(asyncio.create_task(self.dispatcher.sweep_forever(), name="trigger-sweep"))
        self.background.append(asyncio.create_task(self.poller.run_forever(), name="prometheus-triggers"))
        sources = self.sources
        if sources.webhook_port and sources.webhook_token_secret:
            token = SecretToken(self.clients, sources.webhook_token_secret, self.shared_pool)
            app = alertmanager.application(self.dispatcher, token.get, leader=self.leader, me=self.me)
            self.runners.append(await alertmanager.serve(app, sources.webhook_host, sources.webhook_port))

    def take_over(self) -> None:
        """Leading now: evaluate every failure the triggers hold, as no new event may come for it."""
        task = asyncio.get_running_loop().create_task(self.dispatcher.act_on_known(), name="take-over")
        self.background.append(task)

    async def stop(self) -> None:
        """Stop the streams and tasks, write the coalesced fire counts, close the webhook."""
        self.streams.stop()
        for task in self.background:
            task.cancel()
        await asyncio.get_running_loop().run_in_executor(self.pool, self.dispatcher.flush_all_counts)
        for runner in self.runners:
            await runner.cleanup()
        self.pool.shutdown(wait=False, cancel_futures=True)


def register(
    registry: kopf.OperatorRegistry,
    clients: Clients,
    namespace: str,
    egress: outbound.Egress,
    sources: Sources,
    pool: ThreadPoolExecutor,
    acting: Callable[[], bool],
) -> Triggers:
    """Register the trigger side's handlers; the returned Triggers is started and stopped with Kopf."""
    triggers = Triggers(registry, clients, namespace, egress, sources, pool, acting)

    @kopf.on.startup(registry=registry)
    async def start_triggers(**_: Any) -> None:
        await triggers.start()

    return triggers
