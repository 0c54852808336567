"""Sending an incident to a channel: generic JSON webhook, Slack incoming
webhook, PagerDuty Events API v2. A failing channel (5xx, timeout) is retried
with backoff and reported; it never blocks the other channels."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import aiohttp

from paramedic.api.policies import Channel

from .render import Incident

PAGERDUTY_EVENTS = "https://events.pagerduty.com/v2/enqueue"


@dataclasses.dataclass(frozen=True)
class Delivery:
    ok: bool
    attempts: int
    error: str = ""


def kind_of(channel: Channel) -> str:
    return "webhook" if channel.webhook else "slack" if channel.slack else "pagerduty"


def request(
    channel: Channel, secret: str, incident: Incident, dedup_key: str, level: str
) -> tuple[str, dict[str, Any]]:
    """(url, JSON body) in the channel's own format."""
    if channel.slack:
        return secret, {"text": f"*{incident.summary}*\n```\n{incident.text}\n```"}
    if channel.pagerduty:
        return channel.url or PAGERDUTY_EVENTS, {
            "routing_key": secret,
            "event_action": "resolve" if incident.resolved else "trigger",
            "dedup_key": dedup_key,
            "payload": {
                "summary": incident.summary[:1024],
                "source": incident.fields["SERVICES"],
                "severity": "critical",
                "custom_details": {**incident.fields, "level": level, "steps": incident.steps},
            },
            "links": [{"href": link, "text": name} for name, link in incident.links.items() if link.startswith("http")],
        }
    return secret, {
        "status": "resolved" if incident.resolved else "firing",
        "level": level,
        "incident": incident.fields,
        "links": incident.links,
        "steps": incident.steps,
        "text": incident.text,
        "dedupKey": dedup_key,
    }


async def send(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    attempts: int = 4,
    backoff: float = 0.5,
    request_timeout: float = 5.0,
) -> Delivery:
    error = ""
    for attempt in range(1, attempts + 1):
        try:
            async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=request_timeout)) as response:
                if response.status < 300:
                    return Delivery(True, attempt)
                error = f"HTTP {response.status}: {(await response.text())[:200]}"
                if 400 <= response.status < 500 and response.status != 429:
                    return Delivery(False, attempt, error)  # the request itself is wrong: retrying will not help
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        if attempt < attempts:
            await asyncio.sleep(backoff * 2 ** (attempt - 1))
    return Delivery(False, attempts, error)
