"""The API models and the CRDs generated from them."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from paramedic.api import crdgen
from paramedic.api.common import LabelSelector, OneOf, parse_duration
from paramedic.api.policies import Channel
from paramedic.api.resources import RESOURCES
from paramedic.api.runbook import RunbookSpec
from paramedic.api.triggers import Trigger
from paramedic.kube.selectors import matches

CRDS = Path(__file__).resolve().parents[2] / "crds"


def test_crds_directory_is_up_to_date() -> None:
    """Fails when a model changed and `make crds` was not run."""
    for name, text in crdgen.files().items():
        assert (CRDS / name).read_text() == text, f"crds/{name} is stale: run `make crds`"
    assert {p.name for p in CRDS.glob("*.yaml")} == set(crdgen.files())


def test_helm_chart_crds_are_up_to_date() -> None:
    chart = CRDS.parent / "deploy" / "helm" / "paramedic" / "crds"
    for name, text in crdgen.files().items():
        if name != "kustomization.yaml":
            assert (chart / name).read_text() == text, f"{chart / name} is stale: run `make crds`"


def test_reference_docs_are_up_to_date() -> None:
    from paramedic.api.docgen import render

    assert (CRDS.parent / "docs" / "reference.md").read_text() == render(), "docs/reference.md is stale: make crds"


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.kind)
def test_every_field_has_a_description(resource: crdgen.Resource) -> None:
    schema = crdgen.crd(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    missing = [path for path in crdgen.check_descriptions(schema) if path != ".metadata"]
    assert missing == []


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.kind)
def test_schemas_are_structural(resource: crdgen.Resource) -> None:
    """No $ref, anyOf or untyped nodes survive the translation (the API server rejects them)."""
    schema = crdgen.crd(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]

    def walk(node: dict[str, object], path: str) -> None:
        assert not {"$ref", "anyOf", "oneOf", "allOf", "const"} & node.keys(), path
        untyped = ("x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string")
        assert "type" in node or any(node.get(k) for k in untyped), path
        for name, child in (node.get("properties") or {}).items():  # type: ignore[attr-defined]
            walk(child, f"{path}.{name}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")  # type: ignore[arg-type]

    walk(schema, "")


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25), ("1.5h", 5400)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "-1s", "PT5M"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_step_names_its_action() -> None:
    spec = RunbookSpec.model_validate({"steps": [{"patchHPA": {"raiseMaxBy": 2, "cap": 10}}, {"rolloutRestart": {}}]})
    assert [s.action for s in spec.steps] == ["patchHPA", "rolloutRestart"]
    assert spec.trigger.kind == "manual"


def test_unknown_fields_are_rejected_offline() -> None:
    with pytest.raises(ValidationError, match="replics"):
        RunbookSpec.model_validate({"steps": [{"scale": {"replics": 3}}]})


labels = st.dictionaries(st.sampled_from("abcd"), st.sampled_from(["x", "y"]), max_size=4)


@given(labels, labels)
def test_match_labels_is_subset(required: dict[str, str], present: dict[str, str]) -> None:
    expected = all(present.get(k) == v for k, v in required.items())
    assert matches(LabelSelector(match_labels=required), present) == expected


@given(labels, st.sampled_from("abcd"), st.lists(st.sampled_from(["x", "y"]), max_size=2))
def test_in_and_notin_are_complements_when_the_key_is_present(
    present: dict[str, str], key: str, values: list[str]
) -> None:
    selector_in = LabelSelector.model_validate({"matchExpressions": [{"key": key, "operator": "In", "values": values}]})
    selector_out = LabelSelector.model_validate(
        {"matchExpressions": [{"key": key, "operator": "NotIn", "values": values}]}
    )
    if key in present:
        assert matches(selector_in, present) != matches(selector_out, present)
    else:
        assert not matches(selector_in, present)
        assert matches(selector_out, present)


def _unbounded(node: dict[str, Any], path: str) -> list[str]:
    """Every string, list and map below ``node`` that the schema lets grow without limit."""
    if node.get("x-kubernetes-preserve-unknown-fields") and not node.get("properties"):
        return [f"{path} (free-form)"]
    kind, found = node.get("type"), []
    if (kind == "string" or node.get("x-kubernetes-int-or-string")) and "maxLength" not in node and "enum" not in node:
        found.append(path)
    if kind == "array":
        found += [] if "maxItems" in node else [path]
        found += _unbounded(node["items"], path + "[]")
    for name, child in (node.get("properties") or {}).items():
        found += _unbounded(child, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        keys = any(r["rule"].startswith("self.all(k, size(k)") for r in node.get("x-kubernetes-validations", []))
        found += [] if "maxProperties" in node and keys else [f"{path} (map)"]
        found += _unbounded(node["additionalProperties"], path + "{}")
    return found


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.kind)
def test_every_spec_field_is_bounded(resource: Any) -> None:
    """What people write is copied into every Remediation's status: no field's size is theirs to choose.
    The one exception is a ClusterRunbook's full JobSpec, written by cluster admins."""
    schema = crdgen.crd(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    allowed = {"spec.steps[].runJob.template.spec (free-form)"} if resource.kind == "ClusterRunbook" else set()
    assert set(_unbounded(schema, "spec")) == allowed


def _one_of_models() -> list[type[OneOf]]:
    found, todo = [], list(OneOf.__subclasses__())
    while todo:
        model = todo.pop()
        found.append(model)
        todo += model.__subclasses__()
    return found


@pytest.mark.parametrize("model", _one_of_models(), ids=lambda m: m.__name__)
def test_a_one_of_choice_is_one_rule_for_the_api_server_and_lint(model: type[OneOf]) -> None:
    """The CEL rule and the validator are derived from the same fields, so the API server and lint agree."""
    rules = model.model_json_schema(by_alias=True)["x-kubernetes-validations"]
    assert {
        "rule": " + ".join(f"(has(self.{f}) ? 1 : 0)" for f in model.one_of) + " == 1",
        "message": model.one_of_message,
    } in rules
    with pytest.raises(ValueError, match=re.escape(model.one_of_message) + "; this one sets none"):
        model.model_construct()._exactly_one()  # the validator pydantic runs, on an empty choice


def test_lint_rejects_two_trigger_kinds_and_two_channel_kinds_like_the_api_server() -> None:
    with pytest.raises(ValidationError, match=r"trigger sets exactly one of.*this one sets manual, podCrashLoop"):
        Trigger.model_validate({"manual": {}, "podCrashLoop": {}})
    ref = {"name": "s", "key": "url"}
    with pytest.raises(ValidationError, match="this one sets webhook, slack"):
        Channel.model_validate({"name": "c", "webhook": ref, "slack": ref})


def test_an_invalid_spec_is_explained_by_its_fields_and_said_once_per_generation() -> None:
    """policy.invalid: the message names the fields (bounded); the Ready condition records what was said."""
    from pydantic import ValidationError

    from paramedic.api.policies import RateLimitPolicySpec
    from paramedic.records import invalid

    try:
        RateLimitPolicySpec.model_validate(
            {"cooldown": "a while", "windows": [{"max": -1, "per": "x"}, {"max": "many", "per": "1h"}]}
        )
    except ValidationError as exc:
        message = invalid.explain(exc)
    else:
        raise AssertionError("the spec was accepted")
    assert message.startswith("spec.windows[0].max: Input should be greater than or equal to 0; spec.windows[0].per")
    assert message.endswith("(and 1 more)")
    said = {"conditions": [{"type": "Ready", "reason": "Invalid", "observedGeneration": 2, "message": message}]}
    assert invalid.already_said(said, 2, message)
    assert not invalid.already_said(said, 3, message)  # edited: look again
    assert not invalid.already_said({}, 2, message)
