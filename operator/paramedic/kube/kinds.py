"""The one table of the kinds paramedic reads, patches and lists.

Each kind names its apiVersion, plural and scope, and where its typed client
methods live, so that "kind -> apiVersion" and "kind -> API method" are looked
up here instead of in a table per room. paramedic's own kinds go through the
custom-objects API with the same calls.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import Clients

GROUP = "paramedic.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind and how to call the API server about it; every result is a plain dict (the wire form)."""

    name: str
    api_version: str
    plural: str
    namespaced: bool
    #: The attribute of Clients with the typed API group (``core``, ``apps``...); ``custom`` for CRDs.
    group: str
    #: The typed client's snake_case name (``stateful_set`` in ``read_namespaced_stateful_set``).
    snake: str = ""

    @property
    def custom(self) -> bool:
        return self.group == "custom"

    def _typed(self, clients: Clients, verb: str) -> Any:
        scope = "namespaced_" if self.namespaced else ""
        return getattr(getattr(clients, self.group), f"{verb}_{scope}{self.snake}")

    def _where(self, namespace: str | None) -> tuple[str, ...]:
        if not self.namespaced:
            return ()
        if namespace is None:
            raise ValueError(f"a {self.name} needs a namespace")
        return (namespace,)

    def _custom(
        self, clients: Clients, verb: str, namespace: str | None, suffix: str = ""
    ) -> tuple[Any, tuple[str, ...]]:
        """The custom-objects call for ``verb`` and its leading arguments (group, version, namespace, plural)."""
        scope = "namespaced" if self.namespaced else "cluster"
        call = getattr(clients.custom, f"{verb}_{scope}_custom_object{suffix}")
        return call, (GROUP, VERSION, *self._where(namespace), self.plural)

    def read(self, clients: Clients, name: str, namespace: str | None = None) -> dict[str, Any]:
        if self.custom:
            call, args = self._custom(clients, "get", namespace)
            return dict(call(*args, name))
        # Parsed from the response's JSON, not built as the client's typed model and turned back into a
        # dict: for a pod that round trip cost 4.5 ms of CPU (a storm reads 1,000 targets, some thrice).
        response = self._typed(clients, "read")(name, *self._where(namespace), _preload_content=False)
        obj: dict[str, Any] = json.loads(response.data)
        return obj

    def patch(self, clients: Clients, name: str, namespace: str | None, body: Any) -> dict[str, Any]:
        if self.custom:
            return self.patch_status(clients, name, namespace, body, status=False)
        return clients.plain(self._typed(clients, "patch")(name, *self._where(namespace), body))

    def patch_status(
        self, clients: Clients, name: str, namespace: str | None, body: Any, *, status: bool = True
    ) -> dict[str, Any]:
        """Patch a custom object (its status subresource by default)."""
        call, args = self._custom(clients, "patch", namespace, "_status" if status else "")
        return dict(call(*args, name, body))

    def list(self, clients: Clients, namespace: str | None = None, **query: Any) -> list[Any]:
        """The items (typed objects for built-in kinds, dicts for CRDs) in ``namespace`` (all when None)."""
        if self.custom:
            if namespace is None:
                return list(clients.custom.list_cluster_custom_object(GROUP, VERSION, self.plural, **query)["items"])
            found = clients.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, self.plural, **query)
            return list(found["items"])
        api = getattr(clients, self.group)
        if not self.namespaced:
            return list(getattr(api, f"list_{self.snake}")(**query).items)
        if namespace is None:
            return list(getattr(api, f"list_{self.snake}_for_all_namespaces")(**query).items)
        return list(getattr(api, f"list_namespaced_{self.snake}")(namespace, **query).items)

    def delete(self, clients: Clients, name: str, namespace: str | None = None, **options: Any) -> Any:
        if self.custom:
            call, args = self._custom(clients, "delete", namespace)
            return call(*args, name, **options)
        return self._typed(clients, "delete")(name, *self._where(namespace), **options)


_HPA = "horizontal_pod_autoscaler"

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("Pod", "v1", "pods", True, "core", "pod"),
        Kind("Node", "v1", "nodes", False, "core", "node"),
        Kind("Namespace", "v1", "namespaces", False, "core", "namespace"),
        Kind("Secret", "v1", "secrets", True, "core", "secret"),
        Kind("Deployment", "apps/v1", "deployments", True, "apps", "deployment"),
        Kind("StatefulSet", "apps/v1", "statefulsets", True, "apps", "stateful_set"),
        Kind("DaemonSet", "apps/v1", "daemonsets", True, "apps", "daemon_set"),
        Kind("ReplicaSet", "apps/v1", "replicasets", True, "apps", "replica_set"),
        Kind("HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers", True, "autoscaling", _HPA),
        Kind("Job", "batch/v1", "jobs", True, "batch", "job"),
        Kind("Runbook", API_VERSION, "runbooks", True, "custom"),
        Kind("ClusterRunbook", API_VERSION, "clusterrunbooks", False, "custom"),
        Kind("Remediation", API_VERSION, "remediations", True, "custom"),
        Kind("RateLimitPolicy", API_VERSION, "ratelimitpolicies", True, "custom"),
        Kind("EscalationPolicy", API_VERSION, "escalationpolicies", True, "custom"),
    )
}

#: The workloads whose pods a selector picks, read and patched alike.
WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})


def api_version(kind: str) -> str:
    return KINDS[kind].api_version


def runbook_kind(plural: str) -> Kind:
    """Runbook or ClusterRunbook, from the plural a watch reports."""
    return KINDS["ClusterRunbook"] if plural == KINDS["ClusterRunbook"].plural else KINDS["Runbook"]
