"""The Kopf operator: wires the engine (and, later, triggers and policies) to
Kopf's watches.

Only paramedic's own resources get Kopf handlers that store state (as
annotations prefixed paramedic.dev). Everything runs in a dedicated thread
pool: the kubernetes client is blocking, and the event loop must stay free
for watches.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
from kubernetes.client import rest

from paramedic import logs, outbound
from paramedic.api.common import GROUP, VERSION
from paramedic.engine.driver import Drivers, Passes
from paramedic.engine.engine import Engine
from paramedic.escalation.notifier import Notifier
from paramedic.kube import ApiException, Clients
from paramedic.leader import Elector
from paramedic.policy import views
from paramedic.records import metrics, requests
from paramedic.triggers import alertmanager, prometheus, watches
from paramedic.triggers.dispatcher import Dispatcher

log = logging.getLogger(__name__)

#: Threads that create Remediations from triggers (and write the runbooks' status).
TRIGGER_WORKERS = 12
#: Threads of the shared pool that Remediation passes never take (Lease renewals, notifications, reads).
RESERVED_WORKERS = 2


@dataclasses.dataclass(frozen=True)
class Config:
    namespace: str = "paramedic-system"
    kubeconfig: str | None = None
    workers: int = 16
    liveness: str | None = None
    #: Alertmanager webhook: served only when a port and a token Secret ("namespace/name") are set.
    webhook_host: str = "0.0.0.0"
    webhook_port: int | None = None
    webhook_token_secret: str | None = None
    #: Default Prometheus for prometheus triggers that name no URL.
    prometheus_url: str | None = None
    #: CA bundle for Prometheus servers' TLS (verified always; the system's CAs when None).
    prometheus_ca_file: str | None = None
    #: URLs from namespaced objects must start with one of these (see paramedic.outbound).
    allowed_url_prefixes: tuple[str, ...] = ()
    #: Cluster-internal ranges; None: the private ranges.
    cluster_cidrs: tuple[str, ...] | None = None
    #: Seconds an outbound call (Prometheus query, escalation post) may take.
    outbound_timeout: float = 10.0
    #: Act only while holding a coordination.k8s.io Lease (for more than one replica).
    leader_elect: bool = False
    lease_duration: float = 15.0
    #: Prometheus metrics on http://host:port/metrics; None: not served.
    metrics_host: str = "0.0.0.0"
    metrics_port: int | None = None


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
        import base64

        secret = self.clients.core.read_namespaced_secret(self.name, self.namespace)
        data = (secret.data or {}).get(self.key)
        return base64.b64decode(data).decode().strip() if data else None


def connect(config: Config) -> tuple[Clients, ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="paramedic")
    clients = Clients.from_environment(config.kubeconfig)
    # A connection per thread that may call at once (the pool, the triggers, the streams): urllib3
    # drops a connection handed back to a full pool, and the next request pays a TLS handshake, on
    # both sides. The client sizes its pool when it is built (2 CPUs: 10), so it is built again.
    clients.api_client.configuration.connection_pool_maxsize = config.workers + TRIGGER_WORKERS + 8
    clients.api_client.rest_client = rest.RESTClientObject(clients.api_client.configuration)
    requests.count(clients.api_client)
    requests.count_kopf()
    return clients, pool


def build(config: Config, clients: Clients, pool: ThreadPoolExecutor) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    engine = Engine(clients, config.namespace)
    # The triggers' own threads: in a storm, creating the Remediations must not queue behind the
    # engine's reconciles of the ones created a moment ago (the shared pool measured 22 s for 200).
    # Twelve, not four: at the full preset four created 24 Remediations/s while the pods crashed at
    # 46/s, and the 200 runbooks' arming patches held a pre-existing crash loop's creation for 2 s.
    trigger_pool = ThreadPoolExecutor(max_workers=TRIGGER_WORKERS, thread_name_prefix="paramedic-triggers")
    dispatcher = Dispatcher(clients, config.namespace, trigger_pool)
    streams = watches.register(registry, dispatcher)
    background: list[asyncio.Task[None]] = []

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # A custom registry carries none of Kopf's default handlers.
        info: kopf.ConnectionInfo | None = kopf.login_via_client(**kwargs)
        return info

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=GROUP, key="last-handled-configuration"
        )
        settings.posting.level = logging.WARNING
        # One log line per decision: not one per runbook or Remediation event that decided nothing.
        logs.quiet_handlers((*watches.QUIET_HANDLERS, "remediation"))
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330

    egress = outbound.Egress(
        allowed_prefixes=config.allowed_url_prefixes,
        cluster_cidrs=outbound.parse_cidrs(config.cluster_cidrs or outbound.DEFAULT_CLUSTER_CIDRS),
        timeout=config.outbound_timeout,
    )
    poller = prometheus.Poller(dispatcher, config.prometheus_url, egress, config.prometheus_ca_file)
    runners: list[Any] = []

    @kopf.on.startup(registry=registry)
    async def check_identity(**_: Any) -> None:
        """Log whether approvals can be honoured, and record who creates trigger Remediations."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(pool, engine.guard.installed)
        try:
            dispatcher.requester = await loop.run_in_executor(pool, clients.whoami)
        except ApiException as exc:
            log.warning("cannot tell who the operator is (SelfSubjectReview: %s); requestedBy stays 'paramedic'", exc)

    @kopf.on.startup(registry=registry)
    async def start_triggers(**_: Any) -> None:
        background.append(asyncio.create_task(dispatcher.sweep_forever(), name="trigger-sweep"))
        background.append(asyncio.create_task(poller.run_forever(), name="prometheus-triggers"))
        if config.webhook_port and config.webhook_token_secret:
            token = SecretToken(clients, config.webhook_token_secret, pool)
            app = alertmanager.application(dispatcher, token.get)
            runners.append(await alertmanager.serve(app, config.webhook_host, config.webhook_port))

    @kopf.on.cleanup(registry=registry)
    async def shutdown(**_: Any) -> None:
        streams.stop()
        for task in background:
            task.cancel()
        await drivers.stop()
        await asyncio.get_running_loop().run_in_executor(trigger_pool, dispatcher.flush_all_counts)
        for runner in runners:
            await runner.cleanup()
        pool.shutdown(wait=False, cancel_futures=True)
        trigger_pool.shutdown(wait=False, cancel_futures=True)

    @kopf.index(GROUP, VERSION, "remediations", registry=registry, id="admission_index")
    async def admission_index(body: Any, **_: Any) -> dict[str, views.Seen]:
        """Remediations by runbook, for the storm breaker and ledger settling (no LIST per admission).
        A coroutine, as the next one: Kopf runs a plain function on a thread, a hop per watch event."""
        return views.seen(body)

    @kopf.index(GROUP, VERSION, "runbooks", registry=registry, id="runbook_bodies")
    @kopf.index(GROUP, VERSION, "clusterrunbooks", registry=registry, id="clusterrunbook_bodies")
    async def runbook_bodies(name: str, namespace: str | None, body: Any, **_: Any) -> dict[str, dict[str, Any]]:
        """Runbooks as the watch delivers them, so accepting a Remediation reads none from the API."""
        meta = body["metadata"]
        return {
            f"{namespace or ''}/{name}": {
                "metadata": {"name": name, "generation": meta.get("generation", 1)},
                "spec": copy.deepcopy(dict(body.get("spec") or {})),
            }
        }

    @kopf.on.event(GROUP, VERSION, "remediations", registry=registry)
    async def remediation(type: str | None, body: kopf.Body, **kwargs: Any) -> None:
        """Start (or feed) the driver of a Remediation; see engine.driver for why this is not a daemon."""
        if not engine.gate.remediations.bound:
            engine.gate.remediations.bind(kwargs["admission_index"])
            namespaced, clustered = kwargs["runbook_bodies"], kwargs["clusterrunbook_bodies"]

            def known(kind: str, where: str, runbook: str) -> Any:
                index = namespaced if kind == "Runbook" else clustered
                return next(iter(index.get(f"{where}/{runbook}", ())), None)

            engine.runbooks = known
        drivers.observe(type, body)

    # Passes of the engine that may hold a thread of the shared pool at once (see driver.Passes): the
    # rest of the pool stays free for the Lease renewals and everyone else.
    passes = Passes(max(1, config.workers - RESERVED_WORKERS))

    async def _drive(namespace: str, name: str, latest: Callable[[], dict[str, Any] | None]) -> None:
        """Each pass works from the latest body the watch delivered, or the response of our own last
        write when the watch has not caught up with it: no GET per pass."""
        loop = asyncio.get_running_loop()
        failures = 0
        under_way = False  # after its first pass, a Remediation goes before those not yet looked at
        while True:
            try:
                await passes.acquire(under_way)
                try:  # the latest body is taken once a thread is ours: it may change meanwhile
                    observed = latest()
                    if observed is None:
                        return  # deleted
                    current = engine.latest(observed)
                    if current is None:
                        current = await loop.run_in_executor(pool, engine.reread, observed)
                    delay = await loop.run_in_executor(pool, engine.reconcile, current)
                finally:
                    passes.release()
                    under_way = True
                failures = 0
            except ApiException as exc:
                if exc.status == 404:
                    return
                failures += 1
                delay = min(2.0**failures, 60.0)
                log.warning("remediation %s/%s: API error %s, retrying in %.0fs", namespace, name, exc.status, delay)
            except Exception:
                # An engine bug must not become a tight retry loop or kill the operator.
                failures += 1
                delay = min(2.0**failures, 60.0)
                log.exception("remediation %s/%s: unexpected error, retrying in %.0fs", namespace, name, delay)
            if delay is None:
                return
            if delay:
                await asyncio.sleep(delay)

    drivers = Drivers(_drive)

    def handoff(body: dict[str, Any]) -> None:
        """A Remediation the triggers just created starts its driver from the create's response, not
        when the watch delivers it 10 to 20 ms later (that copy then feeds the same driver). Only once
        the first watch event has bound the indexes that admission reads (Kopf's barrier)."""
        if engine.gate.remediations.bound:
            drivers.observe(None, body)

    dispatcher.created = handoff

    notifier = Notifier(clients, pool, egress, config.namespace, engine.guard)

    def _escalating(status: Any, **_: Any) -> bool:
        return bool(((status or {}).get("escalation") or {}).get("state") == "Active")

    @kopf.daemon(
        GROUP, VERSION, "remediations", registry=registry, id="escalation", when=_escalating, cancellation_timeout=10.0
    )
    async def escalate(name: str, namespace: str | None, stopped: kopf.DaemonStopped, **_: Any) -> None:
        """Notify humans, level by level, until the Remediation succeeds or is resolved."""
        assert namespace is not None
        await notifier.drive(namespace, name, lambda: bool(stopped))

    return registry


async def run(config: Config) -> int:
    """Run until stopped; with leader election, only while holding the lease. Returns the exit code."""
    clients, pool = connect(config)
    registry = build(config, clients, pool)
    if config.metrics_port:
        metrics.serve(config.metrics_port, config.metrics_host)
    metrics.LEADER.set(0 if config.leader_elect else 1)
    elector = None
    if config.leader_elect:
        elector = Elector(
            clients,
            config.namespace,
            pool,
            duration=config.lease_duration,
            renew_every=max(config.lease_duration / 3, 0.5),
        )
        await elector.acquire()
    stop = asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(
            registry=registry,
            clusterwide=True,
            standalone=True,
            liveness_endpoint=config.liveness,
            stop_flag=stop,
        )
    )
    if elector is None:
        await operator
        return 0
    keeper = asyncio.create_task(elector.keep())
    try:
        done, _ = await asyncio.wait({operator, keeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not keeper.done():
            keeper.cancel()
    if keeper in done:
        # Leadership lost: stop acting at once; the Deployment restarts this replica as a standby.
        stop.set()
        await asyncio.wait({operator}, timeout=10)
        return 1
    await asyncio.get_running_loop().run_in_executor(pool, elector.release)
    return 0
