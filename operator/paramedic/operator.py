"""The Kopf operator, the composition root: wires the triggers, the policy
gate, the engine and the escalation notifier to Kopf's watches.

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
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from paramedic import fencing, logs, outbound
from paramedic.api.common import GROUP, VERSION
from paramedic.api.remediation import TERMINAL_PHASES
from paramedic.engine.driver import Drivers
from paramedic.engine.engine import Engine
from paramedic.escalation.notifier import Notifier
from paramedic.kube import ApiException, Clients
from paramedic.kube.secrets import secret_text
from paramedic.leader import Elector, identity
from paramedic.policy import views
from paramedic.records import metrics, requests
from paramedic.triggers import alertmanager, prometheus, watches
from paramedic.triggers.dispatcher import Dispatcher

log = logging.getLogger(__name__)


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
    #: None: 2/3 of the lease duration (client-go: 10 s of 15 s); must be shorter than the lease duration.
    renew_deadline: float | None = None
    #: None: 2/15 of the lease duration (client-go: 2 s of 15 s).
    retry_period: float | None = None
    #: Prometheus metrics on http://host:port/metrics; None: not served.
    metrics_host: str = "0.0.0.0"
    metrics_port: int | None = None

    def lease_timings(self) -> tuple[float, float, float]:
        """(duration, renew deadline, retry period); ValueError when the permit could not fence."""
        duration = self.lease_duration
        deadline = self.renew_deadline if self.renew_deadline is not None else duration * 2 / 3
        retry = self.retry_period if self.retry_period is not None else min(duration * 2 / 15, deadline / 2)
        fencing.check_timings(float(max(int(duration), 1)), deadline, retry)
        return duration, deadline, retry


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


class Parked:
    """A standby's open Remediations: the latest body of each, driven by nobody until this replica leads."""

    def __init__(self) -> None:
        self._bodies: dict[str, dict[str, Any]] = {}

    def observe(self, event: str | None, body: Mapping[str, Any]) -> None:
        uid = body["metadata"]["uid"]
        if event == "DELETED" or (body.get("status") or {}).get("phase") in TERMINAL_PHASES:
            self._bodies.pop(uid, None)
        else:
            self._bodies[uid] = copy.deepcopy(dict(body))

    def discard(self, uid: str) -> None:
        self._bodies.pop(uid, None)

    def drain(self) -> list[dict[str, Any]]:
        bodies, self._bodies = list(self._bodies.values()), {}
        return bodies

    def __len__(self) -> int:
        return len(self._bodies)


def connect(config: Config) -> tuple[Clients, ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="paramedic")
    clients = Clients.from_environment(config.kubeconfig)
    clients.api_client.configuration.connection_pool_maxsize = config.workers * 2
    requests.count(clients.api_client)
    fencing.fence(clients.api_client)
    requests.count_kopf()
    return clients, pool


def build(
    config: Config, clients: Clients, pool: ThreadPoolExecutor, on_lead: list[Callable[[], None]] | None = None
) -> kopf.OperatorRegistry:
    """The handlers. Every replica watches and indexes from start; only acting waits for the permit
    (fencing): ``on_lead`` gets the callbacks that act on what is known once this replica leads."""
    registry = kopf.OperatorRegistry()

    def acting() -> bool:
        return fencing.current().valid()

    engine = Engine(clients, config.namespace)
    # The triggers' own few threads: in a storm, creating the Remediations must not queue behind the
    # engine's reconciles of the ones created a moment ago (the shared pool measured 22 s for 200).
    trigger_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="paramedic-triggers")
    dispatcher = Dispatcher(clients, config.namespace, trigger_pool)
    dispatcher.acting = acting
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
        logs.quiet_handlers(watches.QUIET_HANDLERS)
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
    def admission_index(body: Any, **_: Any) -> dict[str, views.Seen]:
        """Remediations by runbook, for the storm breaker and ledger settling (no LIST per admission)."""
        return views.seen(body)

    @kopf.index(GROUP, VERSION, "runbooks", registry=registry, id="runbook_bodies")
    @kopf.index(GROUP, VERSION, "clusterrunbooks", registry=registry, id="clusterrunbook_bodies")
    def runbook_bodies(name: str, namespace: str | None, body: Any, **_: Any) -> dict[str, dict[str, Any]]:
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
        if not acting():
            # A standby drives nothing: it keeps the latest body of each open Remediation for take-over.
            parked.observe(type, body)
            return
        parked.discard(body["metadata"]["uid"])  # this event is newer than what was parked
        drivers.observe(type, body)

    async def _drive(namespace: str, name: str, latest: Callable[[], dict[str, Any] | None]) -> None:
        """Each pass works from the latest body the watch delivered, or the response of our own last
        write when the watch has not caught up with it: no GET per pass."""
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            try:
                observed = latest()
                if observed is None:
                    return  # deleted
                current = engine.latest(observed)
                if current is None:
                    current = await loop.run_in_executor(pool, engine.reread, observed)
                delay = await loop.run_in_executor(pool, engine.reconcile, current)
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
    parked = Parked()

    def take_over() -> None:
        """Leading now: act at once on what this replica already knows, with no new event
        (level-triggered): the open Remediations it holds, the failing objects its triggers hold."""
        for body in parked.drain():
            drivers.observe(None, body)
        task = asyncio.get_running_loop().create_task(dispatcher.act_on_known(), name="take-over")
        background.append(task)

    if on_lead is not None:
        on_lead.append(take_over)

    notifier = Notifier(clients, pool, egress, config.namespace, engine.guard)

    def _escalating(status: Any, **_: Any) -> bool:
        return bool(((status or {}).get("escalation") or {}).get("state") == "Active")

    @kopf.daemon(
        GROUP, VERSION, "remediations", registry=registry, id="escalation", when=_escalating, cancellation_timeout=10.0
    )
    async def escalate(name: str, namespace: str | None, stopped: kopf.DaemonStopped, **_: Any) -> None:
        """Notify humans, level by level, until the Remediation succeeds or is resolved."""
        assert namespace is not None
        while not acting():  # a standby sends nothing; it takes over the daemon when it leads
            await stopped.wait(1.0)
            if stopped:
                return
        await notifier.drive(namespace, name, lambda: bool(stopped))

    return registry


async def run(config: Config) -> int:
    """Run until stopped. With leader election, Kopf runs from start (a warm standby) and the Lease
    only gates acting; a lost leadership ends the process (exit code 1). Returns the exit code."""
    clients, pool = connect(config)
    elector = None
    if config.leader_elect:
        duration, deadline, retry = config.lease_timings()
        elector = Elector(clients, config.namespace, duration=duration, deadline=deadline, retry=retry)
        fencing.install(elector.permit)
    else:
        # Each process is a leadership of its own: a restart finds its predecessor's unfinished intents.
        fencing.install(fencing.Permit.always(f"{identity()}/{uuid.uuid4().hex[:8]}"))
    on_lead: list[Callable[[], None]] = []
    registry = build(config, clients, pool, on_lead)
    if config.metrics_port:
        metrics.serve(config.metrics_port, config.metrics_host)
    metrics.LEADER.set(0 if config.leader_elect else 1)
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
    loop = asyncio.get_running_loop()
    lost = asyncio.Event()

    def changed(leading: bool) -> None:  # on the loop
        metrics.LEADER.set(1 if leading else 0)
        if not leading:
            lost.set()
            return
        for callback in on_lead:
            callback()

    def on_change(leading: bool) -> None:  # on the lease thread
        loop.call_soon_threadsafe(changed, leading)

    elector.on_change = on_change
    elector.start()
    losing = asyncio.create_task(lost.wait())
    try:
        done, _ = await asyncio.wait({operator, losing}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not losing.done():
            losing.cancel()
    if losing in done:
        # Leadership lost: nothing acts any more (the permit is revoked); the Deployment restarts this
        # replica as a standby.
        stop.set()
        await asyncio.wait({operator}, timeout=10)
        return 1
    await loop.run_in_executor(None, elector.release)
    return 0
