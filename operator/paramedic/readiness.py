"""The readiness endpoint: 200 once this replica serves, leader or standby.

Why not "ready = leading": a standby out of the Service's endpoints shows
``0/1`` forever (read as broken), and a PodDisruptionBudget then counts only
the leader as healthy, so ``minAvailable: 1`` refuses to evict it and a
node drain blocks. Every replica serves the Alertmanager webhook instead (a
standby forwards to the leader, ``triggers.forward``), so readiness means
what the Service needs: Kopf has started (startup handlers done, the webhook
listening) and filled its indexes (every runbook known), i.e. an alert
reaching this replica is decided, here or by the leader. Liveness (Kopf's
endpoint, from process start) is apart: a replica that is not yet ready is
never restarted for it.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable

from aiohttp import web

log = logging.getLogger(__name__)


def answer(started: bool, warm: bool) -> tuple[int, str]:
    """The probe's status and body: ready once Kopf has started and the indexes are filled."""
    if not started:
        return 503, "starting: Kopf's startup (and the webhook) not done yet\n"
    if not warm:
        return 503, "starting: the indexes are being filled from their initial listing\n"
    return 200, "ready: serving (watches, indexes and the webhook)\n"


def parse(url: str) -> tuple[str, int, str]:
    """(host, port, path) of an endpoint URL such as http://0.0.0.0:8082/readyz; ValueError when unusable."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        raise ValueError(f"readiness endpoint must be http://host:port/path, not {url!r}")
    return parts.hostname, parts.port, parts.path or "/"


async def serve(url: str, state: Callable[[], tuple[bool, bool]]) -> web.AppRunner:
    """Serve the endpoint until the returned runner is cleaned up; ``state`` ((started, warm)) is asked on
    each probe."""
    host, port, path = parse(url)

    async def probe(_: web.Request) -> web.Response:
        status, text = answer(*state())
        return web.Response(status=status, text=text)

    app = web.Application()
    app.router.add_get(path, probe)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("readiness endpoint listening on %s (200 once Kopf has started and filled its indexes)", url)
    return runner
