"""Counting the operator's own API requests, by verb and resource.

An incident is when the API server is busiest; how many requests paramedic
adds to it is a figure worth watching in production (and the one the storm
tests bound). The count is taken where every request passes: the
kubernetes client's REST client (``client="paramedic"``), and Kopf's one
request function (``client="kopf"``: its watches, finalizers and
annotations), so it is a real count, not an estimate.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import Counter

log = logging.getLogger(__name__)

REQUESTS = Counter("paramedic_api_requests_total", "API requests the operator made.", ["client", "verb", "resource"])


def classify(method: str, url: str, query: Any = None) -> tuple[str, str]:
    """(verb, resource[/subresource]) of a request, as the API server's audit log would name them."""
    parts = urlsplit(url)
    path = [p for p in parts.path.split("/") if p]
    query_keys = set(parse_qs(parts.query)) | {str(k) for k, _ in (query or [])}
    # /api/v1/... or /apis/<group>/<version>/...
    rest = path[2:] if path[:1] == ["api"] else path[3:]
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) > 2:
        rest = rest[2:]  # namespaced: drop namespaces/<ns>
    resource = rest[0] if rest else "unknown"
    named = len(rest) >= 2
    if len(rest) >= 3:
        resource = f"{resource}/{rest[2]}"
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method.upper(), "get")
    if verb == "get" and not named:
        verb = "watch" if "watch" in query_keys else "list"
    return verb, resource


def count(api_client: Any) -> None:
    """Count every request made through ``api_client`` (idempotent)."""
    rest = api_client.rest_client
    if getattr(rest, "_paramedic_counted", False):
        return
    original = rest.request

    def request(method: str, url: str, query_params: Any = None, *args: Any, **kwargs: Any) -> Any:
        REQUESTS.labels("paramedic", *classify(method, url, query_params)).inc()
        return original(method, url, query_params, *args, **kwargs)

    rest.request = request
    rest._paramedic_counted = True


def count_kopf() -> None:
    """Count Kopf's requests too: they all pass through ``kopf._cogs.clients.api.request`` (a private
    name: when a Kopf release moves it, say so and go on uncounted rather than fail)."""
    try:
        from kopf._cogs.clients import api
    except ImportError:
        log.warning("cannot count Kopf's API requests with this Kopf version")
        return
    original = getattr(api, "request", None)
    if original is None or getattr(original, "_paramedic_counted", False):
        return

    async def request(*args: Any, **kwargs: Any) -> Any:
        method = kwargs.get("method", args[0] if args else "get")
        url = kwargs.get("url", args[1] if len(args) > 1 else "")
        REQUESTS.labels("kopf", *classify(str(method), str(url))).inc()
        return await original(*args, **kwargs)

    request._paramedic_counted = True  # type: ignore[attr-defined]
    api.request = request
