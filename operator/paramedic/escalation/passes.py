"""Following one Remediation pass after pass: the loop the escalation notifier and the silencer share.

Each pass reads the Remediation afresh (its status is the only state, so a new leader resumes where the last
one stopped) and hands it to the caller's ``step``, which says the seconds to the next pass, or None when
there is nothing more to do. A write that lost a race (a Conflict) is tried again at once; the Remediation
gone (404) ends the loop; any other API error is logged and tried again in 5 s, so neither ever blocks the
engine nor gives up on a live Remediation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

from paramedic.kube import ApiException, Clients
from paramedic.kube.blocking import run_blocking
from paramedic.records import status as remediation_status

#: Seconds before a pass that met an API error is tried again.
API_RETRY = 5.0


async def follow(
    clients: Clients,
    executor: Executor,
    namespace: str,
    name: str,
    stopped: Callable[[], bool],
    step: Callable[[dict[str, Any]], Awaitable[float | None]],
    what: str,
    log: logging.Logger,
) -> None:
    """Pass after pass over the Remediation ``namespace/name`` until ``step`` is done, it is gone, or
    ``stopped``; ``what`` and ``log`` name the follower in the warning an API error leaves."""
    while not stopped():
        try:
            rem = await run_blocking(executor, remediation_status.read, clients, namespace, name)
            delay = await step(rem)
        except remediation_status.Conflict:
            delay = 0.0
        except ApiException as exc:
            if exc.status == 404:
                return
            log.warning("%s of %s/%s: API error %s", what, namespace, name, exc.status)
            delay = API_RETRY
        if delay is None:
            return
        await asyncio.sleep(delay)
