"""Kubernetes API conventions the CRDs keep, checked against the real API server (no operator needed)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from paramedic.api.common import API_VERSION, GROUP, VERSION
from paramedic.kube import Clients
from paramedic.records import events


def condition(kind: str, status: str) -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": "Test", "lastTransitionTime": "2026-01-01T00:00:00Z"}


@pytest.mark.usefixtures("crds")
def test_conditions_are_a_map_list_keyed_by_type(clients: Clients, namespace: str) -> None:
    """On a RateLimitPolicy: a healthy one is never written by the operator (the session's operator may be
    running, and it marks a Runbook's Ready as soon as it sees one)."""
    body = {"apiVersion": API_VERSION, "kind": "RateLimitPolicy", "metadata": {"name": "keyed"}, "spec": {}}
    clients.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "ratelimitpolicies", body)

    def write(conditions: list[dict[str, Any]]) -> None:
        clients.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, "ratelimitpolicies", "keyed", {"status": {"conditions": conditions}}
        )

    write([condition("Ready", "True"), condition("Accepted", "True")])  # two types: accepted
    with pytest.raises(ApiException) as refused:
        write([condition("Ready", "True"), condition("Ready", "False")])
    assert refused.value.status == 422
    assert "Duplicate value" in refused.value.body
    assert "conditions" in refused.value.body
    got = clients.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "ratelimitpolicies", "keyed")
    assert [c["type"] for c in got["status"]["conditions"]] == ["Ready", "Accepted"]


def test_identical_events_aggregate_into_one_with_a_count(clients: Clients, namespace: str) -> None:
    target = {"apiVersion": "v1", "kind": "ConfigMap", "name": "flapping", "namespace": namespace, "uid": "u-flap"}
    for _ in range(5):
        events.post(clients, target, "Refused", "rate limited", warning=True)
    events.post(clients, target, "Refused", "another message", warning=True)
    posted = clients.core.list_namespaced_event(namespace, field_selector="involvedObject.name=flapping").items
    counts = sorted((e.message, e.count) for e in posted)
    assert counts == [("another message", 1), ("rate limited", 5)]
