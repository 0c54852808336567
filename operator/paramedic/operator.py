"""The Kopf operator, the composition root: each concern registers its own
handlers (``triggers.wiring``, ``engine.wiring``, ``escalation.wiring``); this
module adds Kopf's settings, the start-up checks and the shutdown, and runs
Kopf, with or without leader election (``run``).

Only paramedic's own resources get Kopf handlers that store state (as
annotations prefixed paramedic.dev). Everything runs in a dedicated thread
pool: the kubernetes client is blocking, and the event loop must stay free
for watches.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
from kubernetes.client import rest

from paramedic import fencing, logs, outbound, readiness
from paramedic.api.common import GROUP
from paramedic.engine import policy_status
from paramedic.engine import wiring as engine_wiring
from paramedic.engine.engine import Engine
from paramedic.escalation import wiring as escalation_wiring
from paramedic.escalation.notifier import Notifier
from paramedic.escalation.silences import Silencer
from paramedic.evidence import gather as evidence
from paramedic.kube import ApiException, Clients
from paramedic.leader import Elector, identity, webhook_address
from paramedic.records import metrics, requests
from paramedic.triggers import watches
from paramedic.triggers import wiring as trigger_wiring

log = logging.getLogger(__name__)
FINALIZER = f"{GROUP}/finalizer"
"""The finalizer Kopf keeps on objects whose daemons run (an escalating Remediation): named for paramedic."""


@dataclasses.dataclass(frozen=True)
class Config:
    namespace: str = "paramedic-system"
    kubeconfig: str | None = None
    workers: int = 16
    liveness: str | None = None
    #: Readiness endpoint (e.g. http://0.0.0.0:8082/readyz): 200 once this replica serves (paramedic.readiness).
    readiness: str | None = None
    #: Alertmanager webhook: served only when a port and a token Secret ("namespace/name") are set.
    webhook_host: str = "0.0.0.0"
    webhook_port: int | None = None
    webhook_token_secret: str | None = None
    #: This replica's IP (the pod IP), recorded in the Lease while leading: standbys forward the webhook there.
    webhook_advertise: str | None = None
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
    #: Evidence bounds and extra redaction patterns (paramedic.evidence).
    evidence_item_bytes: int = 64 * 1024
    evidence_total_bytes: int = 512 * 1024
    evidence_redact: tuple[str, ...] = ()
    #: Alertmanager whose API v2 holds the silences runbooks ask for (spec.silence); None: none can be held.
    alertmanager_url: str | None = None

    def lease_timings(self) -> tuple[float, float, float]:
        """(duration, renew deadline, retry period); ValueError when the permit could not fence."""
        duration = self.lease_duration
        deadline = self.renew_deadline if self.renew_deadline is not None else duration * 2 / 3
        retry = self.retry_period if self.retry_period is not None else min(duration * 2 / 15, deadline / 2)
        fencing.check_timings(float(max(int(duration), 1)), deadline, retry)
        return duration, deadline, retry


def connect(config: Config) -> tuple[Clients, ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="paramedic")
    clients = Clients.from_environment(config.kubeconfig)
    # A connection per thread that may call at once (the pool, the triggers, the streams): urllib3
    # drops a connection handed back to a full pool, and the next request pays a TLS handshake, on
    # both sides. The client sizes its pool when it is built (2 CPUs: 10), so it is built again.
    clients.api_client.configuration.connection_pool_maxsize = config.workers + trigger_wiring.TRIGGER_WORKERS + 8
    clients.api_client.rest_client = rest.RESTClientObject(clients.api_client.configuration)
    requests.count(clients.api_client)
    fencing.fence(clients.api_client)
    requests.count_kopf()
    return clients, pool


def build(
    config: Config,
    clients: Clients,
    pool: ThreadPoolExecutor,
    on_lead: list[Callable[[], None]] | None = None,
    elector: Elector | None = None,
    warm: list[Callable[[], bool]] | None = None,
) -> kopf.OperatorRegistry:
    """The handlers, one register() per concern. Every replica watches and indexes from start; only acting
    waits for the permit (fencing): ``on_lead`` gets the callbacks that act on what is known once this
    replica leads. With an ``elector`` a standby's webhook forwards to the leader it names; ``warm`` gets
    the check that the indexes are filled (readiness)."""
    registry = kopf.OperatorRegistry()

    def acting() -> bool:
        return fencing.current().valid()

    egress = outbound.Egress(
        allowed_prefixes=config.allowed_url_prefixes,
        cluster_cidrs=outbound.parse_cidrs(config.cluster_cidrs or outbound.DEFAULT_CLUSTER_CIDRS),
        timeout=config.outbound_timeout,
    )
    reach = evidence.Reach(egress, config.prometheus_url, config.prometheus_ca_file)
    settings = evidence.Settings(reach, config.evidence_item_bytes, config.evidence_total_bytes, config.evidence_redact)
    engine = Engine(clients, config.namespace, settings)
    sources = trigger_wiring.Sources(
        config.prometheus_url,
        config.prometheus_ca_file,
        config.webhook_host,
        config.webhook_port,
        config.webhook_token_secret,
    )
    triggers = trigger_wiring.register(registry, clients, config.namespace, egress, sources, pool, acting)
    engine.prometheus = triggers.poller.instant_blocking  # verify.promql asks through the triggers' client
    if elector is not None:
        triggers.forward_to(elector.leader_address, elector.me)
    if warm is not None:
        warm.append(lambda: triggers.dispatcher.warm)
    remediations = engine_wiring.register(registry, engine, pool, config.workers, acting)
    policy_status.register(registry, clients, engine.gate, pool, acting)  # the policies' own status
    escalation_wiring.register(registry, Notifier(clients, pool, egress, config.namespace, engine.guard), acting)
    escalation_wiring.register_silences(registry, Silencer(clients, pool, egress, config.alertmanager_url), acting)
    # A Remediation the triggers create starts its driver from the create's response (engine.wiring).
    triggers.dispatcher.created = remediations.handoff
    if on_lead is not None:
        on_lead.extend((remediations.take_over, triggers.take_over))

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
        # An own finalizer name, so that `kubectl get -o yaml` and the uninstall docs say whose it is.
        settings.persistence.finalizer = FINALIZER
        settings.posting.level = logging.WARNING
        # One log line per decision: not one per runbook or Remediation event that decided nothing.
        logs.quiet_handlers((*watches.QUIET_HANDLERS, "remediation", *policy_status.QUIET_HANDLERS))
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330

    @kopf.on.startup(registry=registry)
    async def check_identity(**_: Any) -> None:
        """Log whether approvals can be honoured, and record who creates trigger Remediations."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(pool, engine.guard.installed)
        try:
            triggers.dispatcher.requester = await loop.run_in_executor(pool, clients.whoami)
        except ApiException as exc:
            log.warning("cannot tell who the operator is (SelfSubjectReview: %s); requestedBy stays 'paramedic'", exc)

    @kopf.on.cleanup(registry=registry)
    async def shutdown(**_: Any) -> None:
        await remediations.drivers.stop()
        await triggers.stop()
        pool.shutdown(wait=False, cancel_futures=True)

    return registry


async def run(config: Config) -> int:
    """Run until stopped. With leader election, Kopf runs from start (a warm standby) and the Lease
    only gates acting; a lost leadership ends the process (exit code 1). Returns the exit code."""
    clients, pool = connect(config)
    elector = None
    if config.leader_elect:
        duration, deadline, retry = config.lease_timings()
        address = None
        if config.webhook_advertise and config.webhook_port:
            address = webhook_address(config.webhook_advertise, config.webhook_port)
        elector = Elector(clients, config.namespace, duration=duration, deadline=deadline, retry=retry, address=address)
        fencing.install(elector.permit)
    else:
        # Each process is a leadership of its own: a restart finds its predecessor's unfinished intents.
        fencing.install(fencing.Permit.always(f"{identity()}/{uuid.uuid4().hex[:8]}"))
    on_lead: list[Callable[[], None]] = []
    warm: list[Callable[[], bool]] = []
    registry = build(config, clients, pool, on_lead, elector, warm)
    if config.metrics_port:
        metrics.serve(config.metrics_port, config.metrics_host)
    metrics.LEADER.set(0 if config.leader_elect else 1)
    stop = asyncio.Event()
    started = asyncio.Event()  # Kopf's ready flag: the startup handlers (the webhook among them) are done
    if config.readiness:
        await readiness.serve(config.readiness, lambda: (started.is_set(), all(check() for check in warm)))
    operator = asyncio.create_task(
        kopf.operator(
            registry=registry,
            clusterwide=True,
            standalone=True,
            liveness_endpoint=config.liveness,
            stop_flag=stop,
            ready_flag=started,
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
