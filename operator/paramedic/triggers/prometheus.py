"""PromQL triggers: evaluate each runbook's query on its interval.

Every series the query returns is a failing target; once a series has kept
failing for the trigger's ``for`` duration, the runbook fires for it. When
Prometheus cannot be reached or the query fails, the error goes to the
runbook's status and nothing happens: missing data is never a reason to act.

Queries go through ``outbound``: a Runbook's own ``url`` must be on the
admin's allow-list, TLS is verified (``--prometheus-ca-file`` for a private
CA), every query has a timeout (the trigger's ``timeout``, at most
``--outbound-timeout``; Prometheus is asked to stop then too), and a failed
answer is reported by its status code and reason phrase, never its body. A
``bearerToken`` Secret is sent as ``Authorization: Bearer``; only a Secret
labelled for it is read, so a runbook cannot mail out a Secret meant for
something else. At most PER_ENDPOINT queries are in flight per Prometheus:
a stuck one holds a few connections of the shared pool and its own
runbooks' tasks, never the evaluations of runbooks on other servers.

Each series' ``for`` clock (``clocks``) is kept in the runbook's status,
written only when a series starts failing, fires or recovers, and read back
once per runbook when this process first evaluates it: a restart or a
failover resumes the clocks instead of starting them again.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from paramedic import outbound
from paramedic.api.common import parse_duration
from paramedic.api.triggers import Prometheus as PrometheusSource
from paramedic.api.triggers import TokenRef
from paramedic.kube import ApiException, now
from paramedic.kube.kinds import KINDS
from paramedic.records import metrics

from .clocks import Clocks, series_key
from .dispatcher import Dispatcher
from .matching import Entry, Fire, scope
from .series import target_from

log = logging.getLogger(__name__)


#: Prometheus's own error types: a fixed vocabulary, safe to show (the error text is not).
_ERROR_TYPES = frozenset({"timeout", "canceled", "execution", "bad_data", "internal", "unavailable", "not_found"})


#: Queries in flight at once per Prometheus (per origin); the others on the same server wait their turn.
PER_ENDPOINT = 4
#: The label a Secret needs before a runbook's bearerToken may name it.
TOKEN_LABEL = "paramedic.dev/prometheus-token"
#: Seconds a token read from its Secret is used before it is read again (rotation).
TOKEN_TTL = 30.0


class TokenError(Exception):
    """The bearer token Secret cannot be used; the message names the Secret, never its value."""


class QueryFailed(Exception):
    """Prometheus answered, but not with a vector; the message is safe for a status."""


class Poller:
    def __init__(
        self,
        dispatcher: Dispatcher,
        default_url: str | None,
        egress: outbound.Egress | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.default_url = default_url
        self.egress = egress or outbound.Egress()
        self.ca_file = ca_file
        self._session: aiohttp.ClientSession | None = None
        self._running: dict[str, asyncio.Task[None]] = {}
        self._next_at: dict[str, float] = {}
        self._clocks: dict[str, Clocks] = {}
        #: The clocks as last written to each runbook's status (a failed write is retried next evaluation).
        self._written: dict[str, list[dict[str, Any]]] = {}
        self._errors: dict[str, str] = {}
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._tokens: dict[tuple[str, str, str], tuple[float, str]] = {}
        #: The event loop the queries run on, for the engine's pool threads (instant_blocking).
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run_forever(self, tick: float = 0.5) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    await self.tick()
                except Exception:
                    log.exception("prometheus trigger evaluation failed")
                await asyncio.sleep(tick)
        finally:
            for task in list(self._running.values()):
                task.cancel()
            if self._session is not None:
                await self._session.close()

    def trusted(self, entry: Entry) -> bool:
        """An admin's URL: the operator's default, a ClusterRunbook's, or a Runbook's in the operator's namespace."""
        trigger = entry.spec.trigger.prometheus
        return (
            trigger is None
            or not trigger.url
            or entry.kind == "ClusterRunbook"
            or entry.namespace == self.dispatcher.operator_namespace
        )

    async def tick(self) -> None:
        """Start the due evaluations, each in a task of its own: a slow Prometheus (bounded by the timeout)
        delays only its own runbook, and a runbook is never evaluated twice at once."""
        if not self.dispatcher.acting():
            # A standby neither queries nor keeps clocks of its own: the leader's are in the runbooks' status,
            # and the first evaluation after taking over restores them from there, as after a restart.
            for memory in (self._clocks, self._written, self._next_at, self._errors):
                memory.clear()
            return
        moment = time.monotonic()
        entries = list(self.dispatcher.runbooks("prometheus"))
        current = {entry.key for entry in entries}
        for key in [k for k in self._clocks if k not in current and k not in self._running]:
            # Deleted (or no longer a PromQL runbook): a runbook made again under its name starts from its status.
            for memory in (self._clocks, self._written, self._next_at, self._errors):
                memory.pop(key, None)
        for entry in entries:
            trigger = entry.spec.trigger.prometheus
            assert trigger is not None
            if self._next_at.get(entry.key, 0.0) > moment or entry.key in self._running:
                continue
            self._next_at[entry.key] = moment + parse_duration(trigger.interval).total_seconds()
            task = asyncio.create_task(self.evaluate(entry), name=f"prometheus {entry.key}")
            self._running[entry.key] = task
            task.add_done_callback(functools.partial(self._finished, entry.key))

    def _finished(self, key: str, task: asyncio.Task[None]) -> None:
        self._running.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("prometheus trigger %s: evaluation failed", key, exc_info=task.exception())

    async def evaluate(self, entry: Entry) -> None:
        trigger = entry.spec.trigger.prometheus
        assert trigger is not None
        url = trigger.url or self.default_url
        if not url:
            await self._report(
                entry, "no Prometheus URL: set trigger.prometheus.url or the operator's --prometheus-url"
            )
            return
        try:
            permit = self.egress.admit(url, self.trusted(entry))
        except outbound.Refused as exc:
            metrics.TRIGGER_ERRORS.labels("prometheus").inc()
            await self._report(entry, f"not acting: prometheus.url {outbound.describe(exc, url)}")
            return
        if self._session is None:
            self._session = outbound.session(self.egress, self.ca_file)
        timeout = self.egress.timeout
        if trigger.timeout is not None:
            timeout = min(timeout, parse_duration(trigger.timeout).total_seconds())
        headers = {}
        if trigger.bearer_token is not None:
            try:
                headers["Authorization"] = "Bearer " + await self._token(
                    entry.namespace or self.dispatcher.operator_namespace, trigger.bearer_token
                )
            except TokenError as exc:
                metrics.TRIGGER_ERRORS.labels("prometheus").inc()
                await self._report(entry, f"not acting: {exc}")
                return
        limit = self._limits.setdefault(outbound.origin(url), asyncio.Semaphore(PER_ENDPOINT))
        try:
            async with limit:
                result = await _query(self._session, permit, url, trigger.query, timeout, headers)
        except Exception as exc:  # unreachable, timeout, bad PromQL: all are "no data", never "act"
            metrics.TRIGGER_ERRORS.labels("prometheus").inc()
            reason = str(exc) if isinstance(exc, QueryFailed) else outbound.describe(exc, url)
            await self._report(entry, f"query failed, not acting: {reason}"[:1000])
            return
        await self._report(entry, "")
        clocks = self._clocks.get(entry.key)
        if clocks is None:
            try:
                recorded = await self.dispatcher.run_blocking(_read_clocks, self.dispatcher, entry)
            except ApiException as exc:  # not knowing the clocks is no reason to start them again: next time
                log.warning("prometheus trigger %s: could not read its clocks: %s", entry.key, exc.reason)
                return
            clocks = self._clocks[entry.key] = Clocks.restore(recorded)
            self._written[entry.key] = clocks.records()
            if clocks.clocks:
                log.info("prometheus trigger %s: %d for clocks resumed from its status", entry.key, len(clocks.clocks))
        by_key: dict[str, tuple[Mapping[str, str], str]] = {}
        for series in result:
            labels: Mapping[str, str] = series.get("metric") or {}
            by_key[series_key(labels)] = (labels, str((series.get("value") or [None, ""])[1]))
        due = clocks.observe(by_key, datetime.now(UTC), parse_duration(trigger.for_))
        if clocks.records() != self._written.get(entry.key):
            await self._write_clocks(entry, clocks.records())
        for key, since in due:
            labels, value = by_key[key]
            target = target_from(labels, trigger.target_labels)
            if isinstance(target, str):
                log.info("prometheus trigger %s: series %s names no target (%s)", entry.key, key, target)
                continue
            home = scope(entry, target.namespace, self.dispatcher.namespace_labels, self.dispatcher.operator_namespace)
            if home is None:
                continue
            evidence = {
                "query": trigger.query,
                "value": value,
                "since": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "object": target.describe(),
                **{f"label.{k}": v for k, v in sorted(labels.items())},
            }
            await self.dispatcher.fire(Fire(entry, target, home, f"{key}/{since.isoformat()}", evidence))

    async def instant(
        self, query: str, source: PrometheusSource | None, trusted: bool, namespace: str
    ) -> list[dict[str, Any]]:
        """One instant query for a step's verify.promql, with a trigger's rules: the runbook's prometheus
        trigger's url (allow-listed unless ``trusted``) and bearerToken (read in ``namespace``), else the
        operator's URL; the trigger's timeout, at most --outbound-timeout. Raises QueryFailed with a message
        safe for a status."""
        url = (source.url if source is not None else None) or self.default_url
        if not url:
            raise QueryFailed("no Prometheus URL: set the operator's --prometheus-url or a prometheus trigger's url")
        try:
            permit = self.egress.admit(url, trusted or source is None or not source.url)
        except outbound.Refused as exc:
            raise QueryFailed(f"not asked: {outbound.describe(exc, url)}") from None
        if self._session is None:
            self._session = outbound.session(self.egress, self.ca_file)
        timeout = self.egress.timeout
        if source is not None and source.timeout is not None:
            timeout = min(timeout, parse_duration(source.timeout).total_seconds())
        headers = {}
        try:
            if source is not None and source.bearer_token is not None:
                headers["Authorization"] = "Bearer " + await self._token(namespace, source.bearer_token)
            async with self._limits.setdefault(outbound.origin(url), asyncio.Semaphore(PER_ENDPOINT)):
                return await _query(self._session, permit, url, query, timeout, headers)
        except (QueryFailed, TokenError) as exc:
            raise QueryFailed(str(exc)[:500]) from None
        except Exception as exc:  # unreachable, timeout
            raise QueryFailed(outbound.describe(exc, url)) from None

    def instant_blocking(
        self, query: str, source: PrometheusSource | None, trusted: bool, namespace: str
    ) -> list[dict[str, Any]]:
        """``instant`` from a pool thread (the engine's pass), on the operator's event loop and session."""
        if self._loop is None:
            raise QueryFailed("the Prometheus client is not running yet")
        future = asyncio.run_coroutine_threadsafe(self.instant(query, source, trusted, namespace), self._loop)
        try:
            return future.result(self.egress.timeout + 5.0)
        except TimeoutError:
            future.cancel()
            raise QueryFailed(f"no answer within {self.egress.timeout:.0f}s") from None

    async def _token(self, namespace: str, ref: TokenRef) -> str:
        key, moment = (namespace, ref.name, ref.key), time.monotonic()
        cached = self._tokens.get(key)
        if cached is None or moment - cached[0] > TOKEN_TTL:
            token = await self.dispatcher.run_blocking(_read_token, self.dispatcher, namespace, ref)
            cached = self._tokens[key] = (moment, token)
        return cached[1]

    async def _write_clocks(self, entry: Entry, records: list[dict[str, Any]]) -> None:
        """A transition: the clocks go to the runbook's status (retried at the next evaluation if it fails)."""
        if await self.dispatcher.run_blocking(_patch_status, self.dispatcher, entry, {"pendingSeries": records}):
            self._written[entry.key] = records

    async def _report(self, entry: Entry, error: str) -> None:
        if self._errors.get(entry.key) == error:
            return  # already reported (the first evaluation always reports, to set the Ready condition)
        self._errors[entry.key] = error
        if error:
            log.warning("prometheus trigger %s: %s", entry.key, error)
        await self.dispatcher.run_blocking(_write_error, self.dispatcher, entry, error)


async def _query(
    session: aiohttp.ClientSession,
    permit: outbound.Permit,
    url: str,
    query: str,
    seconds: float = 10.0,
    headers: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """GET /api/v1/query within ``seconds``: the vector's series, or QueryFailed/aiohttp errors."""
    endpoint = url.rstrip("/") + "/api/v1/query"
    async with outbound.request(
        session,
        permit,
        "GET",
        endpoint,
        params={"query": query, "timeout": f"{max(seconds, 0.001):.3f}"},  # float seconds: Prometheus parses these
        headers=dict(headers or {}),
        timeout=aiohttp.ClientTimeout(total=seconds),
    ) as response:
        if response.status != 200:
            failed, body = await outbound.failure(response, url)
            raise QueryFailed(failed + (f" ({kind})" if (kind := _error_type(body)) else ""))
        try:
            answer = json.loads(await outbound.read(response))
        except ValueError:
            raise QueryFailed("the answer is not JSON") from None
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict) or answer.get("status") != "success":
        error_type = answer.get("errorType") if isinstance(answer, dict) else None
        raise QueryFailed(f"Prometheus error {error_type if error_type in _ERROR_TYPES else 'unknown'}")
    if data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
        raise QueryFailed(f"the query returns a {str(data.get('resultType'))[:20]}, not an instant vector")
    result: list[dict[str, Any]] = data["result"]
    return result


def _error_type(body: bytes) -> str:
    """Prometheus's errorType when the body names one of its own (never the error text: that is the body)."""
    try:
        kind = json.loads(body).get("errorType")
    except (ValueError, AttributeError):
        return ""
    return kind if kind in _ERROR_TYPES else ""


def _read_token(dispatcher: Dispatcher, namespace: str, ref: TokenRef) -> str:
    """The bearer token, from a Secret labelled for it (TokenError otherwise)."""
    where = f"bearerToken Secret {namespace}/{ref.name}"
    try:
        secret = dispatcher.clients.core.read_namespaced_secret(ref.name, namespace)
    except ApiException as exc:
        raise TokenError(f"cannot read the {where}: {exc.reason}") from None
    if (secret.metadata.labels or {}).get(TOKEN_LABEL) != "true":
        raise TokenError(f"the {where} lacks the label {TOKEN_LABEL}=true")
    data = (secret.data or {}).get(ref.key)
    token = base64.b64decode(data).decode(errors="replace").strip() if data else ""
    if not token:
        raise TokenError(f"the {where} has no key {ref.key}")
    return token


def _read_clocks(dispatcher: Dispatcher, entry: Entry) -> list[dict[str, Any]]:
    """The clocks a previous evaluation (this process or an earlier one) recorded; none for a new runbook."""
    try:
        found = KINDS[entry.kind].read(dispatcher.clients, entry.name, entry.namespace or None)
    except ApiException as exc:
        if exc.status == 404:
            return []
        raise
    records = (found.get("status") or {}).get("pendingSeries") or []
    return [r for r in records if isinstance(r, dict)]


def _patch_status(dispatcher: Dispatcher, entry: Entry, status: dict[str, Any]) -> bool:
    try:
        KINDS[entry.kind].patch_status(dispatcher.clients, entry.name, entry.namespace or None, {"status": status})
    except ApiException as exc:
        log.warning("could not record the for clocks of %s (retried): %s", entry.key, exc.reason)
        return False
    return True


def _write_error(dispatcher: Dispatcher, entry: Entry, error: str) -> None:
    condition = {
        "type": "Ready",
        "status": "False" if error else "True",
        "reason": "PrometheusError" if error else "Evaluating",
        "message": error or "the query is evaluated",
        "lastTransitionTime": now(),
    }
    body = {"status": {"lastError": error, "triggerKind": "prometheus", "conditions": [condition]}}
    try:
        KINDS[entry.kind].patch_status(dispatcher.clients, entry.name, entry.namespace, body)
    except ApiException as exc:
        log.debug("could not write the trigger error of %s: %s", entry.key, exc.reason)
