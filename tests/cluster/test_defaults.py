"""The API server fills in the published defaults: what a user reads back is what the operator uses."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from paramedic.api.common import GROUP, VERSION
from paramedic.api.policies import EscalationPolicySpec, RateLimitPolicySpec
from paramedic.kube import Clients


def _create(clients: Clients, namespace: str, plural: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": "d"}, "spec": spec}
    clients.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)
    read: dict[str, Any] = clients.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, "d")
    return read


def test_a_bare_rate_limit_policy_reads_back_with_its_defaults(clients: Clients, crds: None, namespace: str) -> None:
    stored = _create(
        clients,
        namespace,
        "ratelimitpolicies",
        "RateLimitPolicy",
        {"freezeWindows": [{"days": ["Sat"], "from": "01:00", "to": "02:00"}]},
    )
    spec = stored["spec"]
    assert spec["windows"] == [{"max": 10, "per": "1h", "scope": "Runbook"}]
    assert spec["cooldown"] == "5m"
    assert spec["maxInFlight"] == {"max": 5, "scope": "Cluster"}
    assert spec["stormBreaker"] == {
        "enabled": True,
        "maxFailingPercent": 50,
        "maxFailing": 10,
        "minTargets": 2,
        "window": "5m",
    }
    assert spec["freezeWindows"] == [{"name": "", "days": ["Sat"], "from": "01:00", "to": "02:00"}]
    # Exactly what the operator reads from the bare object.
    assert RateLimitPolicySpec.model_validate(spec) == RateLimitPolicySpec.model_validate(
        {"freezeWindows": spec["freezeWindows"]}
    )


def test_a_partial_storm_breaker_gets_the_rest_of_its_defaults(clients: Clients, crds: None, namespace: str) -> None:
    spec = _create(clients, namespace, "ratelimitpolicies", "RateLimitPolicy", {"stormBreaker": {"maxFailing": 3}})[
        "spec"
    ]
    assert spec["stormBreaker"] == {
        "enabled": True,
        "maxFailingPercent": 50,
        "maxFailing": 3,
        "minTargets": 2,
        "window": "5m",
    }


def test_an_escalation_policy_reads_back_with_its_defaults(clients: Clients, crds: None, namespace: str) -> None:
    level = {"name": "primary", "channels": [{"name": "c", "slack": {"name": "s", "key": "url"}}]}
    spec = _create(clients, namespace, "escalationpolicies", "EscalationPolicy", {"levels": [level]})["spec"]
    assert spec["escalateOn"] == ["StepsExhausted", "VerificationFailed", "StormBreaker", "Frozen", "ApprovalTimeout"]
    assert spec["template"]["eta"] == "unknown - a human is needed"
    assert spec["levels"][0]["after"] == "0s"
    assert spec["levels"][0]["severity"] == "critical"
    assert EscalationPolicySpec.model_validate(spec) == EscalationPolicySpec.model_validate({"levels": [level]})


def test_a_runbook_trigger_default_sets_one_member_only(clients: Clients, crds: None, namespace: str) -> None:
    """Defaults inside a chosen trigger are filled in; no other trigger kind appears (one-of stays one)."""
    spec = _create(
        clients, namespace, "runbooks", "Runbook", {"trigger": {"podCrashLoop": {}}, "steps": [{"rolloutRestart": {}}]}
    )["spec"]
    assert list(spec["trigger"]) == ["podCrashLoop"]
    assert spec["trigger"]["podCrashLoop"]["reasons"] == ["CrashLoopBackOff"]


def test_the_published_crd_documents_the_defaults(clients: Clients, crds: None) -> None:
    """What ``kubectl explain`` reads: the CRD as the API server serves it."""
    served = client.ApiextensionsV1Api(clients.api_client).read_custom_resource_definition(f"ratelimitpolicies.{GROUP}")
    crd: Any = clients.api_client.sanitize_for_serialization(served)
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert spec["stormBreaker"]["default"]["maxFailingPercent"] == 50
    assert spec["windows"]["default"] == [{"max": 10, "per": "1h", "scope": "Runbook"}]
    assert spec["cooldown"]["default"] == "5m"
