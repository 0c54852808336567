"""The ground floor: Kubernetes mechanics every room stands on, and nothing above it.

Here: one ApiClient and the typed API groups built on it, conversions to plain
dicts (what actions and status records work with), and times. Beside it:
``kinds`` (the one table of kinds), ``selectors`` (label selectors),
``conflicts`` (the one retry-on-conflict loop), ``apply`` (server-side
apply of any kind), ``secrets`` (reading a Secret value), ``blocking``
(the client from the event loop), ``durations`` (Go duration strings),
``times`` (RFC 3339 times, the clock). Nothing here imports the rest of paramedic.
"""

from __future__ import annotations

import functools
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from .times import now, parse_time

__all__ = ["ApiException", "Clients", "now", "parse_time", "status_of"]


def status_of(exc: BaseException) -> int | None:
    return exc.status if isinstance(exc, ApiException) else None


class Clients:
    """The API groups paramedic uses, sharing one connection pool."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client

    @classmethod
    def from_environment(cls, kubeconfig: str | None = None) -> Clients:
        """In-cluster service account when running in a pod, else the kubeconfig."""
        if kubeconfig is None:
            try:
                config.load_incluster_config()
                return cls(client.ApiClient())
            except config.ConfigException:
                pass
        return cls(config.new_client_from_config(config_file=kubeconfig))

    @functools.cached_property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    @functools.cached_property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api_client)

    @functools.cached_property
    def autoscaling(self) -> client.AutoscalingV2Api:
        return client.AutoscalingV2Api(self.api_client)

    @functools.cached_property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api_client)

    @functools.cached_property
    def policy(self) -> client.PolicyV1Api:
        return client.PolicyV1Api(self.api_client)

    @functools.cached_property
    def networking(self) -> client.NetworkingV1Api:
        return client.NetworkingV1Api(self.api_client)

    @functools.cached_property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api_client)

    @functools.cached_property
    def admission(self) -> client.AdmissionregistrationV1Api:
        return client.AdmissionregistrationV1Api(self.api_client)

    @functools.cached_property
    def authentication(self) -> client.AuthenticationV1Api:
        return client.AuthenticationV1Api(self.api_client)

    def whoami(self) -> str:
        """The username the API server authenticates these credentials as (SelfSubjectReview)."""
        review = self.authentication.create_self_subject_review(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        )
        return str(review.status.user_info.username)

    @functools.cached_property
    def events(self) -> client.EventsV1Api:
        return client.EventsV1Api(self.api_client)

    def plain(self, obj: Any) -> dict[str, Any]:
        """A typed client object as the plain dict the API server sent."""
        result: dict[str, Any] = self.api_client.sanitize_for_serialization(obj)
        return result
