"""A gathering: run the named collectors (a timeout each, off the event loop), store, and say what was found.

The engine's driver calls ``Gatherer.gather`` from its pass (already on the
operator's blocking pool); the collectors run on a small pool of their own,
so one that hangs past its timeout costs a thread of that pool for the
length of its bounded call, never the pass: it is recorded TimedOut and the
remediation goes on. A collector that fails is recorded Failed with a short,
redacted error.

Text is redacted before anything is kept. The fuller text of each collector
(capped per item, ``item_bytes``, and per Remediation, ``total_bytes``) goes
to one ConfigMap per Remediation, owned by it (garbage-collected with it),
written once per gathering before the status that points to it; the
status keeps a short excerpt within an inline budget. A gathering whose
ConfigMap write fails keeps its excerpts and says so in the log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from paramedic import outbound
from paramedic.api.common import API_VERSION, parse_duration
from paramedic.api.evidence import EXCERPT_BYTES, Collector, EvidenceRecord
from paramedic.kube import ApiException, Clients

from . import kube, remote
from .redact import Redactor, clip
from .remote import Reach as Reach

log = logging.getLogger(__name__)

#: Bytes of excerpts kept in one Remediation's status, all gatherings together.
STATUS_BYTES = 32 * 1024
#: Threads running collectors, for every Remediation together.
WORKERS = 8


@dataclasses.dataclass(frozen=True)
class Settings:
    """The operator's evidence bounds (flags --evidence-item-bytes, --evidence-total-bytes, --evidence-redact)."""

    reach: remote.Reach = dataclasses.field(default_factory=remote.Reach)
    item_bytes: int = 64 * 1024
    total_bytes: int = 512 * 1024
    redact: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Request:
    """What the engine asks for: these collectors, after this step (None: before the first), about this target."""

    rem: dict[str, Any]
    collectors: Sequence[Collector]
    after: int | None
    kind: str
    name: str
    namespace: str | None
    #: A ClusterRunbook's (cross-namespace Services allowed); else the tenant rules apply.
    cluster: bool
    #: The excerpt bytes already kept in the status.
    inline_used: int = 0


def configmap_name(rem_name: str) -> str:
    return f"{rem_name[: 253 - len('-evidence')]}-evidence"


def key_of(after: int | None, name: str) -> str:
    return f"{'before' if after is None else f'after-{after}'}.{name}"


def describe(exc: BaseException, redactor: Redactor) -> str:
    """A failure for the status: the API server's message, not its whole body; redacted, bounded."""
    if isinstance(exc, ApiException):
        try:
            message = str(json.loads(exc.body or "{}").get("message", ""))
        except (ValueError, AttributeError):
            message = ""
        text = f"{exc.status} {exc.reason}" + (f": {message}" if message else "")
    elif isinstance(exc, (kube.Unavailable, outbound.Refused)):
        text = str(exc)
    elif isinstance(exc, ClientError):  # boto3: the AWS error code and its message
        error = exc.response.get("Error", {})
        text = f"{error.get('Code', 'error')}: {error.get('Message', '')}"
    elif isinstance(exc, TimeoutError):
        text = "timed out"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return clip(redactor(text), 1000, keep="head")[0]


def allot(existing: dict[str, str], texts: list[tuple[str, str, str]], item: int, total: int) -> dict[str, str]:
    """Pure: the ConfigMap keys to write for ``texts`` (key, which end to keep, text): each within ``item``
    bytes, all of the ConfigMap (the keys kept from earlier gatherings too) within ``total``; in order, the
    later ones left out once it is full."""
    keys = {key for key, _, _ in texts}
    used = sum(len(v.encode()) for k, v in existing.items() if k not in keys)
    data: dict[str, str] = {}
    for key, keep, text in texts:
        room = min(item, total - used)
        if room <= 0:
            break
        data[key] = clip(text, room, keep=keep)[0]
        used += len(data[key].encode())
    return data


class Gatherer:
    def __init__(self, clients: Clients, settings: Settings | None = None) -> None:
        self.clients = clients
        self.settings = settings or Settings()
        self.redactor = Redactor(self.settings.redact)
        self.pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="paramedic-evidence")

    def _call(self, scope: kube.Scope, collector: Collector, request: Request) -> kube.Found:
        kind, params, seconds = collector.kind, collector.params, scope.timeout()
        if kind in kube.COLLECTORS:
            return kube.COLLECTORS[kind](scope, params) if kind == "logs" else kube.COLLECTORS[kind](scope)
        if kind == "aws":
            return remote.aws(scope, params)  # type: ignore[arg-type]
        reach = self.settings.reach
        if kind == "promql":
            coro = remote.promql(scope, reach, params)  # type: ignore[arg-type]
        else:
            home = scope.namespace or request.rem["metadata"]["namespace"]
            coro = remote.http(scope, reach, params, home, not request.cluster)  # type: ignore[arg-type]
        # A private loop in this worker thread: the operator's own loop never waits on it.
        return asyncio.run(asyncio.wait_for(coro, seconds))

    def gather(self, request: Request, now: Callable[[], datetime]) -> list[EvidenceRecord]:
        """Run the collectors, store their text, and return one record per collector, in order."""
        started = time.monotonic()
        futures: list[tuple[Collector, float, Future[kube.Found]]] = []
        for collector in request.collectors:
            seconds = parse_duration(collector.timeout).total_seconds()
            scope = kube.Scope(
                self.clients,
                request.kind,
                request.name,
                request.namespace,
                self.redactor,
                self.settings.item_bytes,
                started + seconds,
            )
            futures.append((collector, seconds, self.pool.submit(self._call, scope, collector, request)))
        outcomes: list[tuple[Collector, kube.Found | None, str, str]] = []
        for collector, seconds, future in futures:
            try:
                result = future.result(timeout=max(0.0, started + seconds - time.monotonic()))
                outcomes.append((collector, result, "Collected", ""))
            except (FutureTimeout, TimeoutError):
                future.cancel()
                outcomes.append((collector, None, "TimedOut", f"no answer within {collector.timeout}"))
            except Exception as exc:
                outcomes.append((collector, None, "Failed", describe(exc, self.redactor)))
        details = self._store(request, [(c, f) for c, f, _, _ in outcomes])
        at, inline, records = now(), request.inline_used, []
        for collector, found, outcome, error in outcomes:
            record = EvidenceRecord(
                name=collector.name,
                kind=collector.kind,
                collected_at=at,
                after=request.after,
                outcome=outcome,
                error=error,
            )
            if found is not None:
                record.values = {
                    k: self.redactor(v)[:256] if isinstance(v, str) else v for k, v in list(found.values.items())[:8]
                }
                keep = "tail" if collector.kind in ("logs", "events") else "head"
                budget = max(0, min(EXCERPT_BYTES, STATUS_BYTES - inline))
                record.excerpt = clip(found.text, budget, keep=keep)[0]
                inline += len(record.excerpt.encode())
                record.detail = details.get(collector.name)
            records.append(record)
        meta = request.rem["metadata"]
        log.info(
            "remediation %s/%s: evidence %s: %s",
            meta["namespace"],
            meta["name"],
            "before the first step" if request.after is None else f"after step {request.after + 1}",
            ", ".join(f"{r.name} {r.outcome}" for r in records),
        )
        return records

    def _store(self, request: Request, found: list[tuple[Collector, kube.Found | None]]) -> dict[str, str]:
        """Write the texts to the Remediation's ConfigMap (one write); their configmap/key by collector name.

        The first gathering creates the ConfigMap without reading it first (it cannot exist yet unless a pass
        was killed after writing it: then the create's 409 falls back to reading and patching), which saves
        a request per Remediation in a storm."""
        meta = request.rem["metadata"]
        name, namespace = configmap_name(meta["name"]), meta["namespace"]
        texts = [
            (key_of(request.after, c.name), "tail" if c.kind in ("logs", "events") else "head", r.text)
            for c, r in found
            if r is not None and r.text
        ]
        if not texts:
            return {}
        if request.after is None:
            data = allot({}, texts, self.settings.item_bytes, self.settings.total_bytes)
            if not data:
                return {}
            try:
                self._create(name, namespace, meta, data)
                return {key.split(".", 1)[1]: f"{name}/{key}" for key in data}
            except ApiException as exc:
                if exc.status != 409:
                    log.warning("evidence ConfigMap %s/%s not written: %s %s", namespace, name, exc.status, exc.reason)
                    return {}
        core = self.clients.core
        existing: dict[str, str] | None
        try:
            current = json.loads(core.read_namespaced_config_map(name, namespace, _preload_content=False).data)
        except ApiException as exc:
            if exc.status != 404:
                log.warning("evidence ConfigMap %s/%s unreadable: %s", namespace, name, exc.status)
                return {}
            existing = None
        else:
            owners = (current.get("metadata") or {}).get("ownerReferences") or []
            if not any(o.get("uid") == meta["uid"] for o in owners):
                # Someone else's ConfigMap by that name: never written over.
                log.warning("ConfigMap %s/%s is not this Remediation's: evidence text not stored", namespace, name)
                return {}
            existing = dict(current.get("data") or {})
        data = allot(existing or {}, texts, self.settings.item_bytes, self.settings.total_bytes)
        if not data:
            return {}
        try:
            if existing is None:
                self._create(name, namespace, meta, data)
            else:
                core.patch_namespaced_config_map(name, namespace, {"data": data})
        except ApiException as exc:
            log.warning("evidence ConfigMap %s/%s not written: %s %s", namespace, name, exc.status, exc.reason)
            return {}
        by_name = {key.split(".", 1)[1]: f"{name}/{key}" for key in data}
        return by_name

    def _create(self, name: str, namespace: str, meta: dict[str, Any], data: dict[str, str]) -> None:
        """The Remediation's ConfigMap, owned by it (garbage-collected with it)."""
        owner = {"apiVersion": API_VERSION, "kind": "Remediation", "name": meta["name"], "uid": meta["uid"]}
        labels = {"app.kubernetes.io/managed-by": "paramedic", "paramedic.dev/remediation": meta["name"][:63]}
        body = {
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": labels,
                "ownerReferences": [{**owner, "controller": True}],
            },
            "data": data,
        }
        self.clients.core.create_namespaced_config_map(namespace, body)
