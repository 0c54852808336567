"""PromQL triggers: evaluate each runbook's query on its interval.

Every series the query returns is a failing target; once a series has kept
failing for the trigger's ``for`` duration, the runbook fires for it. When
Prometheus cannot be reached or the query fails, the error goes to the
runbook's status and nothing happens: missing data is never a reason to act.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_api_client import PrometheusConnect

from paramedic.api.common import GROUP, VERSION, parse_duration
from paramedic.kube import ApiException, now
from paramedic.records import metrics

from .dispatcher import Dispatcher
from .matching import Entry, Fire, scope
from .series import target_from

log = logging.getLogger(__name__)


class Poller:
    def __init__(self, dispatcher: Dispatcher, default_url: str | None) -> None:
        self.dispatcher = dispatcher
        self.default_url = default_url
        self._next_at: dict[str, float] = {}
        self._failing_since: dict[tuple[str, str], datetime] = {}
        self._errors: dict[str, str] = {}

    async def run_forever(self, tick: float = 0.5) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("prometheus trigger evaluation failed")
            await asyncio.sleep(tick)

    async def tick(self) -> None:
        moment = time.monotonic()
        for entry in list(self.dispatcher.runbooks("prometheus")):
            trigger = entry.spec.trigger.prometheus
            assert trigger is not None
            if self._next_at.get(entry.key, 0.0) > moment:
                continue
            self._next_at[entry.key] = moment + parse_duration(trigger.interval).total_seconds()
            await self.evaluate(entry)

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
            result = await self.dispatcher.run_blocking(_query, url, trigger.query)
        except Exception as exc:  # unreachable, timeout, bad PromQL: all are "no data", never "act"
            metrics.TRIGGER_ERRORS.labels("prometheus").inc()
            await self._report(entry, f"query failed, not acting: {type(exc).__name__}: {exc}"[:1000])
            return
        await self._report(entry, "")
        failing = datetime.now(UTC)
        seen: set[tuple[str, str]] = set()
        hold = parse_duration(trigger.for_)
        for series in result:
            labels: Mapping[str, str] = series.get("metric") or {}
            value = (series.get("value") or [None, ""])[1]
            key = (entry.key, ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
            seen.add(key)
            since = self._failing_since.setdefault(key, failing)
            if since + hold > failing:
                continue
            target = target_from(labels, trigger.target_labels)
            if isinstance(target, str):
                log.info("prometheus trigger %s: series %s names no target (%s)", entry.key, key[1], target)
                continue
            home = scope(entry, target.namespace, self.dispatcher.namespace_labels, self.dispatcher.operator_namespace)
            if home is None:
                continue
            evidence = {
                "query": trigger.query,
                "value": str(value),
                "since": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "object": target.describe(),
                **{f"label.{k}": v for k, v in sorted(labels.items())},
            }
            await self.dispatcher.fire(Fire(entry, target, home, f"{key[1]}/{since.isoformat()}", evidence))
        for key in [k for k in self._failing_since if k[0] == entry.key and k not in seen]:
            del self._failing_since[key]  # recovered: a new failure starts a new duration

    async def _report(self, entry: Entry, error: str) -> None:
        if self._errors.get(entry.key) == error:
            return  # already reported (the first evaluation always reports, to set the Ready condition)
        self._errors[entry.key] = error
        if error:
            log.warning("prometheus trigger %s: %s", entry.key, error)
        await self.dispatcher.run_blocking(_write_error, self.dispatcher, entry, error)


def _query(url: str, query: str) -> list[dict[str, Any]]:
    client = PrometheusConnect(url=url, disable_ssl=True, retry=None)
    result: list[dict[str, Any]] = client.custom_query(query=query, params={"timeout": "10s"})
    return result


def _write_error(dispatcher: Dispatcher, entry: Entry, error: str) -> None:
    condition = {
        "type": "Ready",
        "status": "False" if error else "True",
        "reason": "PrometheusError" if error else "Evaluating",
        "message": error or "the query is evaluated",
        "lastTransitionTime": now(),
    }
    body = {"status": {"lastError": error, "triggerKind": "prometheus", "conditions": [condition]}}
    custom = dispatcher.clients.custom
    try:
        if entry.kind == "Runbook":
            custom.patch_namespaced_custom_object_status(GROUP, VERSION, entry.namespace, "runbooks", entry.name, body)
        else:
            custom.patch_cluster_custom_object_status(GROUP, VERSION, "clusterrunbooks", entry.name, body)
    except ApiException as exc:
        log.debug("could not write the trigger error of %s: %s", entry.key, exc.reason)
