"""Leader election on a coordination.k8s.io Lease, with a fencing permit.

Kopf's peering pauses replicas of equal priority but keeps no lease, so it
is not leader election. Here every replica runs Kopf from process start (a
warm standby: watches and indexes filled), and only the acting is gated by
the Lease through ``paramedic.fencing``'s permit.

The Lease is kept on a thread of its own, with an API client of its own and
a short request timeout, so a storm's blocking calls in the worker pool (or
a busy event loop) cannot delay a renew. The timings are client-go's:
lease duration 15 s, renew deadline 10 s, retry period 2 s. The leader
renews every retry period; its permit lapses ``deadline`` seconds after the
start of its last successful renew, and then it exits (crash-only, as
controller-runtime does: the Deployment restarts it as a standby). A
standby takes the Lease once it has seen the same Lease record, unchanged,
for ``duration`` seconds on its own monotonic clock (client-go's rule: no
wall clocks compared), so a leader that cannot renew has stopped acting
``duration - deadline`` seconds before anyone else may start.

The holder also records where it serves the Alertmanager webhook (the
annotation ``ADDRESS``, its pod IP and port, written with every renew), so a
standby that receives an alert through the Service can forward it to the
replica that acts (``leader_address``). The record is the one this thread
reads every retry period anyway: forwarding costs no API call.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from kubernetes import client

from paramedic import fencing
from paramedic.kube import ApiException, Clients

log = logging.getLogger(__name__)

#: Lease annotation: where the holder serves the Alertmanager webhook, "IP:port" ("[IPv6]:port").
ADDRESS = "paramedic.dev/webhook-address"


def webhook_address(host: str, port: int) -> str:
    """The ``ADDRESS`` value for an IP and a port; ValueError unless ``host`` is an IP literal (a pod IP)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"the webhook's advertised address must be an IP (the pod IP), not {host!r}") from None
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def parse_address(value: str) -> tuple[str, int] | None:
    """(IP, port) from an ``ADDRESS`` value, None for anything else: a standby forwards only to an IP literal
    and a port, never to a name (DNS), a path, credentials or a scheme a Lease writer slipped in."""
    host, sep, port = value.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        return None
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if ip.is_unspecified or ip.is_multicast or getattr(ip, "scope_id", None):
        return None  # no zone: a pod IP has none, and it would not survive into a URL
    return str(ip), int(port)


def identity() -> str:
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def _stamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_client(clients: Clients) -> client.ApiClient:
    """An API client of the Lease's own (its own connection pool: never queued behind the workers' calls)."""
    configuration = copy.deepcopy(clients.api_client.configuration)
    configuration.connection_pool_maxsize = 1
    return client.ApiClient(configuration)


@dataclasses.dataclass
class Elector:
    clients: Clients
    namespace: str
    name: str = "paramedic-leader"
    duration: float = 15.0
    deadline: float = 10.0
    retry: float = 2.0
    me: str = dataclasses.field(default_factory=identity)
    #: Called on the lease thread: True once leading, False once leadership is lost (never True again).
    on_change: Callable[[bool], None] = lambda leading: None
    clock: Callable[[], float] = time.monotonic
    #: Where this replica serves the webhook ("IP:port", ``webhook_address``), recorded while it holds the Lease.
    address: str | None = None

    def __post_init__(self) -> None:
        # Standbys read the whole seconds the Lease records: the deadline must be shorter than those.
        fencing.check_timings(float(max(int(self.duration), 1)), self.deadline, self.retry)
        self.permit = fencing.Permit(self.deadline, clock=self.clock)
        self.api = client.CoordinationV1Api(lease_client(self.clients))
        #: The Lease record last seen (holder, renewTime, resourceVersion) and when it was first seen.
        self._seen: tuple[tuple[str, str, str], float] | None = None
        self._stop = threading.Event()
        self.leading = False
        #: This process holds the Lease (a renew, not a new term, when the record names it).
        self._holding = False
        #: (holder identity, recorded webhook address) of the Lease as last read or written here.
        self.observed: tuple[str, str] = ("", "")

    @property
    def timeout(self) -> float:
        """A Lease request may take at most this long: a renew (a read and a replace) ends within the renew
        deadline, so a hung request never outlasts the permit (client-go bounds a renew by its deadline)."""
        return max(self.deadline / 2, 0.2)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="paramedic-lease", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Acquire, then renew every retry period, until leadership is lost (or ``stop``)."""
        announced = False
        while not self._stop.is_set():
            started = self.clock()
            try:
                held = self.try_acquire(started)
            except Exception as exc:  # an API hiccup: retry until the permit lapses
                log.warning("could not %s the lease: %s", "renew" if self.leading else "read", exc)
                held = None
            if held:
                if not self.leading:
                    self.leading = True
                    log.info("became the leader as %s (epoch %s)", self.me, self.permit.epoch)
                    self.on_change(True)
            elif self.leading and held is False:
                log.error("lost the lease %s/%s to another replica", self.namespace, self.name)
                return self._lose()
            elif not self.leading and not announced:
                log.info("waiting for leadership (lease %s/%s); standing by", self.namespace, self.name)
                announced = True
            if self.leading and not self.permit.valid():
                log.error("could not renew the lease within the renew deadline (%.1fs): stop acting", self.deadline)
                return self._lose()
            self._stop.wait(max(self.retry - (self.clock() - started), 0.0))

    def _lose(self) -> None:
        self._holding = False
        self.permit.revoke()
        self.leading = False
        self.on_change(False)

    def try_acquire(self, started: float | None = None) -> bool:
        """One attempt: take the lease if it is free, expired (as seen here) or ours; a conflict means
        someone else won. On success the permit is renewed from ``started``, the attempt's start."""
        started = self.clock() if started is None else started
        timeout = self.timeout
        stamp = _stamp()
        spec = {"holderIdentity": self.me, "leaseDurationSeconds": max(int(self.duration), 1), "renewTime": stamp}
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace, _request_timeout=timeout)
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = {"metadata": self._metadata(), "spec": {**spec, "acquireTime": stamp, "leaseTransitions": 0}}
            try:
                self.api.create_namespaced_lease(self.namespace, body, _request_timeout=timeout)
            except ApiException as create_error:
                if create_error.status == 409:
                    return False
                raise
            self.permit.renewed(started, f"{self.me}#0")
            self._holding = True
            self.observed = (self.me, self.address or "")
            return True
        holder = lease.spec.holder_identity or ""
        self.observed = (holder, (lease.metadata.annotations or {}).get(ADDRESS, ""))
        if holder and holder != self.me and not self._expired(lease):
            return False
        # A new term when another held it, and also when this identity's previous process did (a restarted
        # pod keeps its name): each term has an epoch of its own.
        renewing = holder == self.me and self._holding
        transitions = (lease.spec.lease_transitions or 0) + (0 if renewing else 1)
        acquired = lease.spec.acquire_time
        body = {
            "metadata": {**self._metadata(), "resourceVersion": lease.metadata.resource_version},
            "spec": {
                **spec,
                "leaseTransitions": transitions,
                "acquireTime": (acquired.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if renewing and acquired else stamp),
            },
        }
        try:
            self.api.replace_namespaced_lease(self.name, self.namespace, body, _request_timeout=timeout)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        self.permit.renewed(started, f"{self.me}#{transitions}")
        self._holding = True
        self.observed = (self.me, self.address or "")
        return True

    def _metadata(self) -> dict[str, object]:
        """The Lease's metadata as this holder writes it: the name, and where it serves the webhook."""
        if not self.address:
            return {"name": self.name}
        return {"name": self.name, "annotations": {ADDRESS: self.address}}

    def leader_address(self) -> tuple[str, int] | None:
        """Where the current holder (another replica) serves the webhook, as last read (at most a retry period
        ago); None when this replica holds it, nobody does, the holder recorded no usable address, or the
        record has not changed for the renew deadline on this clock: that holder's permit has lapsed (it
        renews every retry period), it is not acting, and its pod IP may already be another pod's."""
        holder, address = self.observed
        seen = self._seen
        if not holder or holder == self.me or not address or seen is None or seen[0][0] != holder:
            return None
        if self.clock() - seen[1] >= self.deadline:
            return None
        return parse_address(address)

    def _expired(self, lease: client.V1Lease) -> bool:
        """Whether another holder's lease has expired, judged by how long this replica has seen it unchanged."""
        renewed = lease.spec.renew_time
        record = (lease.spec.holder_identity or "", str(renewed), str(lease.metadata.resource_version))
        now = self.clock()
        if self._seen is None or self._seen[0] != record:
            self._seen = (record, now)
            return False
        return fencing.acquirable(now, self._seen[1], float(lease.spec.lease_duration_seconds or self.duration))

    def release(self) -> None:
        """Hand the lease over at once on a clean shutdown (only while still holding it)."""
        self.stop()
        if not self.permit.valid():
            return
        self.permit.revoke()
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace, _request_timeout=self.timeout)
            if lease.spec.holder_identity == self.me:
                body = {
                    "metadata": {"name": self.name, "resourceVersion": lease.metadata.resource_version},
                    "spec": {
                        "holderIdentity": None,
                        "leaseDurationSeconds": max(int(self.duration), 1),
                        "leaseTransitions": lease.spec.lease_transitions,
                    },
                }
                self.api.replace_namespaced_lease(self.name, self.namespace, body, _request_timeout=self.timeout)
        except Exception as exc:
            log.warning("could not release the lease: %s", exc)
