"""Sending an incident to a channel: generic JSON webhook, Slack incoming
webhook, PagerDuty Events API v2. A failing channel (5xx, 429, timeout) is
retried with jittered exponential backoff (tenacity, asyncio sleeps: the event
loop is never blocked), honouring a ``Retry-After`` the receiver asks for; it
never blocks the other channels. A ``Retry-After`` longer than this round may
wait is handed back, so the notifier schedules the next round no earlier.
Every post is timed out and goes through ``outbound`` (the URL's permit is
checked again on the resolved address); a failure is reported by status code
and reason phrase only, since the notification lands in a tenant-readable
status."""

from __future__ import annotations

import dataclasses
import email.utils
from datetime import UTC, datetime
from typing import Any

import aiohttp
import tenacity

from paramedic import outbound
from paramedic.api.policies import Channel

from . import evidence
from .render import Incident

PAGERDUTY_EVENTS = "https://events.pagerduty.com/v2/enqueue"


@dataclasses.dataclass(frozen=True)
class Delivery:
    ok: bool
    attempts: int
    error: str = ""
    #: Seconds the receiver asked us to wait (Retry-After) beyond what one round waits; None if it did not.
    retry_after: float | None = None


class _Retryable(Exception):
    """A try that may succeed later: 5xx, 429, a connection error or a timeout."""

    def __init__(self, error: str, retry_after: float | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.retry_after = retry_after


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP date (RFC 9110 10.2.3); None when absent or
    unreadable (then the backoff decides)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


#: Pace of the rounds that re-send to channels which failed: the first after this many seconds, doubling up to
#: ROUND_MAX (and never slower than the policy's repeatInterval), so a broken channel is retried within minutes
#: instead of going quiet until the next repeat.
ROUND_FIRST = 10.0
ROUND_MAX = 300.0


def next_round(retries: int, repeat_interval: float, asked: float | None = None, spread: float = 1.0) -> float:
    """Seconds until the next round of re-sends after ``retries`` failed rounds: exponential, capped, scaled by
    ``spread`` (jitter, 0.8-1.2, so that many incidents failing together do not retry in step), and never
    sooner than a receiver's Retry-After (``asked``)."""
    pace = min(ROUND_FIRST * 2.0 ** min(retries, 16), ROUND_MAX, repeat_interval) * spread
    return max(pace, asked or 0.0)


def kind_of(channel: Channel) -> str:
    return "webhook" if channel.webhook else "slack" if channel.slack else "pagerduty"


def request(
    channel: Channel, secret: str, incident: Incident, dedup_key: str, level: str, severity: str = "critical"
) -> tuple[str, dict[str, Any]]:
    """(url, JSON body) in the channel's own format; ``severity`` is the level's (PagerDuty's four values)."""
    if channel.slack:
        return secret, slack(incident)
    if channel.pagerduty:
        return channel.url or PAGERDUTY_EVENTS, {
            "routing_key": secret,
            "event_action": "resolve" if incident.resolved else "trigger",
            "dedup_key": dedup_key,
            "payload": {
                "summary": incident.summary[:1024],
                "source": incident.fields["SERVICES"],
                "severity": severity,
                "custom_details": {
                    **incident.fields,
                    "level": level,
                    "steps": incident.steps,
                    "evidence": {r["name"]: r for r in incident.evidence},
                },
            },
            "links": [{"href": link, "text": name} for name, link in incident.links.items() if link.startswith("http")],
        }
    return secret, {
        "status": "resolved" if incident.resolved else "firing",
        "level": level,
        "severity": severity,
        "incident": incident.fields,
        "links": incident.links,
        "steps": incident.steps,
        "text": incident.text,
        "dedupKey": dedup_key,
        "evidence": incident.evidence,
    }


def slack(incident: Incident) -> dict[str, Any]:
    """A Slack message: the incident as blocks (its fields, then the key figures and excerpt of each evidence
    record), with the whole text as the notification's fallback ``text``; within Slack's block limits."""
    fields = [
        {"type": "mrkdwn", "text": _section(f"*{name}*\n{incident.fields[name]}")[:2000]}
        for name in ("STATUS", "START TIME (UTC)", "SERVICES", "ETA")
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": incident.summary[: evidence.SLACK_HEADER]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _section(f"*IMPACT*: {incident.fields['IMPACT']}")}},
        {"type": "section", "fields": fields},
        {"type": "section", "text": {"type": "mrkdwn", "text": _section(f"*UPDATE*: {incident.fields['UPDATE']}")}},
    ]
    if incident.steps:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _section("\n".join(incident.steps))}})
    blocks += evidence.slack_blocks(incident.evidence)[: evidence.SLACK_BLOCKS - len(blocks) - 1]
    links = " | ".join(f"{name}: {link}" for name, link in incident.links.items())
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _section(links)}]})
    text = f"*{incident.summary}*\n```\n{incident.text}\n```"
    return {"text": text[:40000], "blocks": blocks}


def _section(text: str) -> str:
    escaped = evidence.slack_escape(text)
    return escaped if len(escaped) <= evidence.SLACK_SECTION else escaped[: evidence.SLACK_SECTION - 3] + "..."


async def send(
    session: aiohttp.ClientSession,
    permit: outbound.Permit,
    url: str,
    body: dict[str, Any],
    attempts: int = 4,
    backoff: float = 0.5,
    max_wait: float = 30.0,
    request_timeout: float = 5.0,
) -> Delivery:
    """Post ``body``, retrying what may succeed later; at most ``attempts`` tries, waits of at most ``max_wait``."""
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    tries = 0

    async def once() -> Delivery:
        nonlocal tries
        tries += 1
        try:
            async with outbound.request(session, permit, "POST", url, json=body, timeout=timeout) as response:
                if response.status < 300:
                    return Delivery(True, tries)
                error, _ = await outbound.failure(response, url)
                if 300 <= response.status < 500 and response.status not in (408, 429):
                    return Delivery(False, tries, error)  # the request itself is wrong: retrying will not help
                asked = retry_after(response.headers.get("Retry-After"))
        except outbound.Refused as exc:
            return Delivery(False, tries, outbound.describe(exc, url))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Retryable(outbound.describe(exc, url)) from exc
        if asked is not None and asked > max_wait:
            return Delivery(False, tries, error, retry_after=asked)  # not in this round: the notifier schedules it
        raise _Retryable(error, asked)

    jitter = tenacity.wait_random_exponential(multiplier=backoff, max=max_wait)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return exc.retry_after
        return float(jitter(state))

    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=wait,
        retry=tenacity.retry_if_exception_type(_Retryable),
        reraise=True,
    )
    try:
        return await retrying(once)
    except _Retryable as exc:
        return Delivery(False, tries, exc.error)
