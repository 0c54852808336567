"""Defaults in the published schema: the ones pydantic would apply, and none that would build a wrong object."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import Field

from paramedic.api.common import Model, OneOf
from paramedic.api.crd import check_defaults, crd, model_schema
from paramedic.api.policies import EscalationPolicySpec, RateLimitPolicySpec
from paramedic.api.resources import RESOURCES


def _spec(kind: str) -> dict[str, Any]:
    resource = next(r for r in RESOURCES if r.kind == kind)
    return crd(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]  # type: ignore[no-any-return]


def test_factory_defaults_are_published_as_the_model_makes_them() -> None:
    spec = _spec("RateLimitPolicy")["properties"]
    assert spec["windows"]["default"] == [{"max": 10, "per": "1h", "scope": "Runbook"}]
    assert spec["maxInFlight"]["default"] == {"max": 5, "scope": "Cluster"}
    assert spec["stormBreaker"]["default"] == RateLimitPolicySpec(windows=[]).storm_breaker.dump()
    assert spec["cooldown"]["default"] == "5m"
    escalation = _spec("EscalationPolicy")["properties"]
    assert escalation["escalateOn"]["default"] == [
        "StepsExhausted",
        "VerificationFailed",
        "StormBreaker",
        "Frozen",
        "ApprovalTimeout",
    ]
    assert "consoleUrl" not in escalation["template"]["default"]  # no nulls in a default: the API server refuses them


def test_an_object_filled_with_the_published_defaults_is_what_the_model_reads() -> None:
    """What the API server stores after defaulting loads to the same spec as the bare object would."""
    for model, kind, bare in (
        (RateLimitPolicySpec, "RateLimitPolicy", {}),
        (
            EscalationPolicySpec,
            "EscalationPolicy",
            {"levels": [{"name": "a", "channels": [{"name": "c", "slack": {"name": "s", "key": "k"}}]}]},
        ),
    ):
        defaults = {k: p["default"] for k, p in _spec(kind)["properties"].items() if "default" in p}
        assert model.model_validate({**defaults, **bare}) == model.model_validate(bare)


def test_empty_factory_defaults_are_not_published() -> None:
    assert "default" not in _spec("RateLimitPolicy")["properties"]["freezeWindows"]
    assert "default" not in _spec("Runbook")["properties"]["target"]  # {kinds: []}: says nothing


def test_status_gets_no_factory_defaults() -> None:
    resource = next(r for r in RESOURCES if r.kind == "RateLimitPolicy")
    status = crd(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert "default" not in status["properties"]["ledger"]


class _Choice(OneOf):
    one_of = ("a", "b")
    one_of_message = "exactly one of a, b"

    a: str | None = Field(default=None, description="a")
    b: str | None = Field(default="x", description="b, wrongly defaulted")


class _Holder(Model):
    choice: _Choice = Field(description="the choice")


def test_a_default_on_a_member_of_a_choice_is_refused() -> None:
    with pytest.raises(ValueError, match=r"spec\.choice\.b: a member of a one-of choice cannot have a default"):
        check_defaults(model_schema(_Holder), "spec")


def test_a_default_beneath_free_form_data_is_refused() -> None:
    node = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {"x": {"type": "string", "default": "y"}},
    }
    with pytest.raises(ValueError, match="beneath x-kubernetes-preserve-unknown-fields"):
        check_defaults(node, "spec")
