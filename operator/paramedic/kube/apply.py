"""Server-side apply of any kind, through the ApiClient's raw requests (no typed client per kind).

``resource`` asks the API server's discovery for a kind's plural and scope
(one small GET of its group version, cached per process; a kind not found is
asked again, never remembered as missing); ``apply`` sends
an ``application/apply-patch+yaml`` PATCH (JSON is YAML) as field manager
``paramedic``, optionally as a server-side dry run, and returns the object
as the API server would store it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import TYPE_CHECKING, Any

from kubernetes.client.exceptions import ApiException

if TYPE_CHECKING:
    from . import Clients

FIELD_MANAGER = "paramedic"


@dataclasses.dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None, name: str) -> str:
        base = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        where = f"/namespaces/{namespace}" if self.namespaced else ""
        return f"{base}{where}/{self.plural}/{name}"


def _call(clients: Clients, method: str, path: str, **kwargs: Any) -> Any:
    response = clients.api_client.call_api(
        path,
        method,
        header_params={"Accept": "application/json", **kwargs.pop("headers", {})},
        auth_settings=["BearerToken"],
        _preload_content=False,
        _return_http_data_only=True,
        **kwargs,
    )
    return json.loads(response.data)


def _fetch(clients: Clients, api_version: str) -> tuple[tuple[str, str, bool], ...] | None:
    """The group version's resources as (kind, plural, namespaced); None when it is not served."""
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    try:
        found = _call(clients, "GET", base)
    except ApiException as exc:
        if exc.status == 404:  # a group version the API server does not serve
            return None
        raise
    return tuple(
        (r["kind"], r["name"], bool(r.get("namespaced"))) for r in found.get("resources", []) if "/" not in r["name"]
    )


class _NotServed(Exception):
    """Raised out of the cache, so that "not served" is never remembered (lru_cache keeps no exception)."""


@functools.lru_cache(maxsize=64)
def _discover(clients: Clients, api_version: str) -> tuple[tuple[str, str, bool], ...]:
    found = _fetch(clients, api_version)
    if found is None:
        raise _NotServed
    return found


def resource(clients: Clients, api_version: str, kind: str) -> Resource | None:
    """The kind's plural and scope, or None when the API server does not serve it. What is served is cached;
    a miss is asked again (a CRD installed after start serves its kind from then on, no restart needed)."""
    try:
        served = _discover(clients, api_version)
    except _NotServed:
        return None
    for found_kind, plural, namespaced in served:
        if found_kind == kind:
            return Resource(api_version, kind, plural, namespaced)
    fresh = _fetch(clients, api_version) or ()  # a kind added to a group version already cached
    if fresh != served:
        _discover.cache_clear()  # rare (a CRD added or removed): every group version is asked again once
    for found_kind, plural, namespaced in fresh:
        if found_kind == kind:
            return Resource(api_version, kind, plural, namespaced)
    return None


def read(clients: Clients, where: Resource, namespace: str | None, name: str) -> dict[str, Any]:
    result: dict[str, Any] = _call(clients, "GET", where.path(namespace, name))
    return result


def apply(
    clients: Clients,
    where: Resource,
    namespace: str | None,
    body: dict[str, Any],
    *,
    force: bool,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Server-side apply ``body``; with ``dry_run`` the API server validates and answers, storing nothing."""
    query: list[tuple[str, Any]] = [("fieldManager", FIELD_MANAGER)]
    if force:
        query.append(("force", "true"))
    if dry_run:
        query.append(("dryRun", "All"))
    result: dict[str, Any] = _call(
        clients,
        "PATCH",
        where.path(namespace, body["metadata"]["name"]),
        query_params=query,
        headers={"Content-Type": "application/apply-patch+yaml"},
        body=body,
    )
    return result
