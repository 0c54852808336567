"""Alertmanager's webhook (payload version 4), served by the operator.

Only *firing* alerts start runbooks. A resolved alert never does: acting on
one once deleted a healthy pod in another project. The whole payload is
parsed and checked before anything is created, so a malformed payload is
rejected whole (4xx with the reason) and nothing is half-applied.
Requests must carry ``Authorization: Bearer <token>``, the token being read
from a Secret; without a configured token the webhook is not served.

Every replica serves it (each is ready behind the Service): a standby checks
the token and the payload itself, then forwards the batch to the replica that
acts (``forward``), so a bad request is refused wherever it lands and a good
one is decided once, by the leader.

Matching alerts against runbooks' patterns is tenant-driven work, so it runs
off the event loop, in a small executor of its own, under a time bound: the
watches and the leader Lease keep running whatever a payload or a pattern
costs. A runbook with an invalid pattern is skipped (its status says why);
the rest of the batch is decided as usual, and the webhook never answers 500
for a decision.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import forward
from .dispatcher import Dispatcher
from .matching import Entry, Fire, scope
from .series import matches, target_from

log = logging.getLogger(__name__)

MAX_PAYLOAD = 1024 * 1024
PATH = "/alertmanager"
#: How long matching one payload may take before the webhook gives up on it (503, Alertmanager retries).
DECIDE_TIMEOUT = 10.0


class Alert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: str = Field(default="", alias="startsAt")
    ends_at: str = Field(default="", alias="endsAt")
    fingerprint: str = ""


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    alerts: list[Alert] = Field(max_length=1000)


@dataclasses.dataclass
class Decision:
    fires: list[Fire]
    skipped: list[str]
    resolved: int


def match(payload: Payload, entries: Iterable[Entry]) -> tuple[list[tuple[Alert, Entry]], list[str]]:
    """The (firing alert, runbook) pairs whose alertname and matchers agree; pure, the CPU-bound part.

    A runbook with a problem (an invalid pattern) is skipped and named; it never fails the batch."""
    pairs: list[tuple[Alert, Entry]] = []
    usable = []
    skipped = []
    for entry in entries:
        if entry.problem:
            skipped.append(f"{entry.key} is not ready: {entry.problem}")
        else:
            usable.append(entry)
    for alert in payload.alerts:
        if alert.status != "firing":
            continue
        alertname = alert.labels.get("alertname", "")
        for entry in usable:
            trigger = entry.spec.trigger.alertmanager
            assert trigger is not None
            if alertname in trigger.alertnames and matches(entry.matchers, alert.labels):
                pairs.append((alert, entry))
    return pairs, skipped


def decide(payload: Payload, dispatcher: Dispatcher, matched: list[tuple[Alert, Entry]] | None = None) -> Decision:
    """Which runbooks the payload's firing alerts start, against which targets. Pure apart from the indexes."""
    skipped: list[str] = []
    if matched is None:
        matched, skipped = match(payload, dispatcher.runbooks("alertmanager"))
    fires: list[Fire] = []
    resolved = sum(1 for alert in payload.alerts if alert.status != "firing")
    for alert, entry in matched:
        alertname = alert.labels.get("alertname", "")
        trigger = entry.spec.trigger.alertmanager
        assert trigger is not None
        target = target_from(alert.labels, trigger.target_labels)
        if isinstance(target, str):
            skipped.append(f"{alertname} -> {entry.key}: {target}")
            continue
        home = scope(entry, target.namespace, dispatcher.namespace_labels, dispatcher.operator_namespace)
        if home is None:
            skipped.append(f"{alertname} -> {entry.key}: {target.describe()} is out of its scope")
            continue
        evidence = {f"label.{k}": v for k, v in sorted(alert.labels.items())}
        evidence.update({"alertname": alertname, "startsAt": alert.starts_at, "object": target.describe()})
        occurrence = f"{alert.fingerprint or sorted(alert.labels.items())}/{alert.starts_at}"
        fires.append(Fire(entry, target, home, occurrence, evidence))
    return Decision(fires, skipped, resolved)


class BadBody(ValueError):
    """A body that is not one well-formed JSON document: the sender's fault, a 400, never a traceback."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        counts = Counter(k for k, _ in pairs)
        raise BadBody(f"duplicate keys {sorted(k for k, n in counts.items() if n > 1)[:5]}")
    return result


def parse_body(body: bytes) -> Any:
    """Strict JSON: UTF-8, one document, no duplicate keys; nesting deeper than the parser's recursion limit and
    numbers longer than Python converts are refused, never an exception that escapes as a 500."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except BadBody:
        raise
    except (ValueError, RecursionError) as exc:
        raise BadBody(str(exc)[:200]) from None


def application(
    dispatcher: Dispatcher,
    token: Callable[[], Awaitable[str | None]],
    decide_timeout: float = DECIDE_TIMEOUT,
    leader: forward.LeaderAddress = lambda: None,
    me: str = "",
) -> web.Application:
    """The webhook; ``leader`` says where the acting replica serves it, for a standby to forward to."""
    # Two threads: one payload being matched cannot hold the next; the API worker pool is not shared.
    matcher_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="paramedic-webhook")
    busy = asyncio.Semaphore(2)

    async def receive(request: web.Request) -> web.Response:
        expected = await token()
        given = request.headers.get("Authorization", "")
        if not expected or not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        body = await request.read()  # over MAX_PAYLOAD: 413, on every replica
        try:
            raw = await asyncio.get_running_loop().run_in_executor(matcher_pool, parse_body, body)
        except BadBody as exc:
            return web.json_response({"error": f"body is not JSON: {exc}"}, status=400)
        try:
            payload = Payload.model_validate(raw)
        except ValidationError as exc:
            fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:10])
            return web.json_response({"error": f"not an Alertmanager v4 payload: {fields}"}, status=422)
        if not dispatcher.acting():  # fencing: a standby decides nothing; it hands the batch to the leader
            return await forward.forward(request, body, leader, me, PATH)
        entries = list(dispatcher.runbooks("alertmanager"))  # a snapshot, taken on the loop
        loop = asyncio.get_running_loop()
        try:
            async with busy:
                matched, skipped = await asyncio.wait_for(
                    loop.run_in_executor(matcher_pool, match, payload, entries), decide_timeout
                )
        except TimeoutError:
            log.warning("alertmanager webhook: matching %d alerts took over %.0fs", len(payload.alerts), decide_timeout)
            return forward.unavailable("matching took too long, try again later")
        try:
            decision = decide(payload, dispatcher, matched)
        except Exception:  # a bug, not the payload's fault: Alertmanager retries a 503, never a 500 loop
            log.exception("alertmanager webhook: deciding failed")
            return forward.unavailable("the operator could not decide, see its log")
        decision.skipped[:0] = skipped
        created = []
        for fire in decision.fires:
            try:
                if name := await dispatcher.fire(fire):
                    created.append(name)
            except Exception:  # one runbook's failure must not fail the others in the batch
                log.exception("alertmanager webhook: starting %s failed", fire.entry.key)
                decision.skipped.append(f"{fire.entry.key}: could not start, see the operator log")
        log.info(
            "alertmanager webhook: %d alerts, %d firing matched, %d resolved ignored, %d remediations created",
            len(payload.alerts),
            len(decision.fires),
            decision.resolved,
            len(created),
        )
        return web.json_response(
            {
                "alerts": len(payload.alerts),
                "matched": len(decision.fires),
                "resolvedIgnored": decision.resolved,
                "created": created,
                "skipped": decision.skipped,
            }
        )

    async def close_pool(_: web.Application) -> None:
        matcher_pool.shutdown(wait=False, cancel_futures=True)

    app = web.Application(client_max_size=MAX_PAYLOAD)
    app.router.add_post(PATH, receive)
    app.on_cleanup.append(close_pool)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("alertmanager webhook listening on http://%s:%d%s", host, port, PATH)
    return runner
