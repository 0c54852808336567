"""Alertmanager's webhook (payload version 4), served by the operator.

Only *firing* alerts start runbooks. A resolved alert never does: acting on
one once deleted a healthy pod in another project. The whole payload is
parsed and checked before anything is created, so a malformed payload is
rejected whole (4xx with the reason) and nothing is half-applied.
Requests must carry ``Authorization: Bearer <token>``, the token being read
from a Secret; without a configured token the webhook is not served.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .dispatcher import Dispatcher
from .matching import Fire, scope
from .series import matches, target_from

log = logging.getLogger(__name__)

MAX_PAYLOAD = 1024 * 1024
PATH = "/alertmanager"


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


def decide(payload: Payload, dispatcher: Dispatcher) -> Decision:
    """Which runbooks the payload's firing alerts start, against which targets. Pure apart from the indexes."""
    fires: list[Fire] = []
    skipped: list[str] = []
    resolved = 0
    for alert in payload.alerts:
        if alert.status != "firing":
            resolved += 1
            continue
        alertname = alert.labels.get("alertname", "")
        for entry in dispatcher.runbooks("alertmanager"):
            trigger = entry.spec.trigger.alertmanager
            assert trigger is not None
            if alertname not in trigger.alertnames or not matches(trigger.matchers, alert.labels):
                continue
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


def application(dispatcher: Dispatcher, token: Callable[[], Awaitable[str | None]]) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        expected = await token()
        given = request.headers.get("Authorization", "")
        if not expected or not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        try:
            raw: Any = await request.json()
        except ValueError as exc:
            return web.json_response({"error": f"body is not JSON: {exc}"}, status=400)
        try:
            payload = Payload.model_validate(raw)
        except ValidationError as exc:
            fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:10])
            return web.json_response({"error": f"not an Alertmanager v4 payload: {fields}"}, status=422)
        decision = decide(payload, dispatcher)
        created = [name for fire in decision.fires if (name := await dispatcher.fire(fire))]
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

    app = web.Application(client_max_size=MAX_PAYLOAD)
    app.router.add_post(PATH, receive)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("alertmanager webhook listening on http://%s:%d%s", host, port, PATH)
    return runner
