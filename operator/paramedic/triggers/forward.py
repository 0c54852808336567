"""A standby's half of the Alertmanager webhook: hand a checked alert batch to the replica that acts.

Every replica serves the webhook and is ready behind the Service, so
Alertmanager reaches a standby about half the time. The standby does what it
can do alone (the bearer token, the body size limit, strict JSON, the v4
payload model: a bad request is refused where it arrived, 4xx), then forwards
the same bytes, with the same ``Authorization`` header, to the Lease holder's
recorded address, and answers with the leader's status and body. The leader
checks the token again and decides as for any request.

Why forwarding and not a queue the leader drains: the alert is acted on
within the request, exactly as on the leader, and Alertmanager's own retries
remain the one durable queue (a 503 with ``Retry-After`` when no leader is
reachable within ``TIMEOUT``). It is not an open relay: only the webhook path
is forwarded, only to an IP literal and port read from the Lease that only
the operator's ServiceAccount may write (``leader.parse_address``), only while
that record is fresh (renewed within the renew deadline: a dead leader's pod
IP, which may already be another pod's, is not sent the token), only after
the token is checked here, once (a forwarded request is never forwarded
again: ``HEADER``), with the body already bounded by the size limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import aiohttp
from aiohttp import web

log = logging.getLogger(__name__)

#: Set on a forwarded request (the standby's identity): the receiver decides or refuses, never forwards.
HEADER = "X-Paramedic-Forwarded-By"
#: Seconds a forward may take in all (connect, send, the leader's decision, the answer); the leader's own
#: matching bound is 10 s, but a leader that slow is better retried by Alertmanager than waited on.
TIMEOUT = 8.0
#: What a standby tells Alertmanager to wait before retrying (seconds): about a failover.
RETRY_AFTER = 5
#: The leader's answer is a small JSON document; more is refused rather than relayed.
MAX_ANSWER = 256 * 1024

#: Where the acting replica serves the webhook: (IP, port), or None when unknown.
LeaderAddress = Callable[[], "tuple[str, int] | None"]


def unavailable(reason: str) -> web.Response:
    """503 with Retry-After: Alertmanager keeps the alert and retries it."""
    return web.json_response({"error": reason}, status=503, headers={"Retry-After": str(RETRY_AFTER)})


def target_url(address: tuple[str, int], path: str) -> str:
    host, port = address
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


async def forward(request: web.Request, body: bytes, leader: LeaderAddress, me: str, path: str) -> web.Response:
    """Send an already checked batch to the leader and answer with its answer (503 + Retry-After when it
    cannot be reached or answers nothing usable within ``TIMEOUT``)."""
    if request.headers.get(HEADER):
        # Forwarded to a replica that is not (or no longer) acting: never a second hop (no loops).
        return unavailable("forwarded to a replica that is not the leader (leadership moving): try again")
    address = leader()
    if address is None:
        return unavailable("this replica is a standby and no leader is known: try again")
    url = target_url(address, path)
    headers = {
        "Authorization": request.headers.get("Authorization", ""),
        "Content-Type": "application/json",
        HEADER: me,
    }
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session,
            session.post(url, data=body, headers=headers, allow_redirects=False) as answer,
        ):
            text = await answer.content.read(MAX_ANSWER + 1)
            if len(text) > MAX_ANSWER:
                raise ValueError(f"the leader's answer exceeds {MAX_ANSWER} bytes")
            status = answer.status
            retry = answer.headers.get("Retry-After")
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.warning("alertmanager webhook: forwarding to the leader at %s failed: %s", url, exc or type(exc).__name__)
        return unavailable("this replica is a standby and the leader did not answer: try again")
    log.info("alertmanager webhook: forwarded to the leader at %s, which answered %d", url, status)
    return web.Response(
        body=text,
        status=status,
        content_type="application/json",
        headers={"Retry-After": retry} if retry else None,
    )
