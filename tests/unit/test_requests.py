"""How the operator's API requests are named in its request counter."""

from __future__ import annotations

import pytest

from paramedic.records.requests import classify

BASE = "https://127.0.0.1:6443"


@pytest.mark.parametrize(
    ("method", "url", "query", "expected"),
    [
        ("GET", f"{BASE}/apis/paramedic.dev/v1alpha1/namespaces/ns/remediations/r1", None, ("get", "remediations")),
        ("GET", f"{BASE}/apis/paramedic.dev/v1alpha1/namespaces/ns/remediations", None, ("list", "remediations")),
        ("GET", f"{BASE}/apis/paramedic.dev/v1alpha1/remediations", [("watch", True)], ("watch", "remediations")),
        (
            "PATCH",
            f"{BASE}/apis/paramedic.dev/v1alpha1/namespaces/ns/ratelimitpolicies/p/status",
            None,
            ("patch", "ratelimitpolicies/status"),
        ),
        ("POST", f"{BASE}/api/v1/namespaces/ns/events", None, ("create", "events")),
        ("GET", f"{BASE}/api/v1/nodes?labelSelector=a%3Db", None, ("list", "nodes")),
        ("GET", f"{BASE}/api/v1/namespaces/ns", None, ("get", "namespaces")),
        ("DELETE", f"{BASE}/api/v1/namespaces/ns/pods/p", None, ("delete", "pods")),
        ("POST", f"{BASE}/api/v1/namespaces/ns/pods/p/eviction", None, ("create", "pods/eviction")),
    ],
)
def test_requests_are_named_by_verb_and_resource(
    method: str, url: str, query: list[tuple[str, object]] | None, expected: tuple[str, str]
) -> None:
    assert classify(method, url, query) == expected
