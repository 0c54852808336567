"""Counting the operator's own API requests, by verb and resource.

An incident is when the API server is busiest; how many requests paramedic
adds to it is a figure worth watching in production (and the one the storm
tests bound). The count is taken where every request of the kubernetes
client passes (its REST client), so it is a real count, not an estimate.
Kopf's own watch streams and patches go through aiohttp and are not counted.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import Counter

REQUESTS = Counter("paramedic_api_requests_total", "API requests the operator made.", ["verb", "resource"])


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
        REQUESTS.labels(*classify(method, url, query_params)).inc()
        return original(method, url, query_params, *args, **kwargs)

    rest.request = request
    rest._paramedic_counted = True
