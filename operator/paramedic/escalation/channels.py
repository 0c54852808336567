"""Sending an incident to a channel: generic JSON webhook, Slack incoming
webhook, PagerDuty Events API v2. A failing channel (5xx, timeout) is retried
with backoff and reported; it never blocks the other channels. Every post is
timed out and goes through ``outbound`` (the URL's permit is checked again on
the resolved address); a failure is reported by status code and reason
phrase only, since the notification lands in a tenant-readable status."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import aiohttp

from paramedic import outbound
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
    permit: outbound.Permit,
    url: str,
    body: dict[str, Any],
    attempts: int = 4,
    backoff: float = 0.5,
    request_timeout: float = 5.0,
) -> Delivery:
    error = ""
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    for attempt in range(1, attempts + 1):
        try:
            async with outbound.request(session, permit, "POST", url, json=body, timeout=timeout) as response:
                if response.status < 300:
                    return Delivery(True, attempt)
                error, _ = await outbound.failure(response, url)
                if 300 <= response.status < 500 and response.status != 429:
                    return Delivery(False, attempt, error)  # the request itself is wrong: retrying will not help
        except outbound.Refused as exc:
            return Delivery(False, attempt, outbound.describe(exc, url))
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = outbound.describe(exc, url)
        if attempt < attempts:
            await asyncio.sleep(backoff * 2 ** (attempt - 1))
    return Delivery(False, attempts, error)
