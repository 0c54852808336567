"""Every CEL rule of the CRDs is broken by a counter-example, and `paramedic lint`
rejects each counter-example naming the field the API server names (the
cluster half is in tests/cluster/test_crds.py)."""

from __future__ import annotations

from typing import Any

from paramedic.api import celrules
from paramedic.api.resources import RESOURCES
from paramedic.lint import lint_document
from tests.cel_cases import CASES, PARAMS


def _rules(node: dict[str, Any]) -> set[tuple[str, str]]:
    found = {(r["rule"], r["message"]) for r in node.get("x-kubernetes-validations", ()) if "oldSelf" not in r["rule"]}
    for child in (node.get("properties") or {}).values():
        found |= _rules(child)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found |= _rules(node[key])
    return found


def test_every_rule_has_a_counter_example() -> None:
    rules = {(r.kind, *rule) for r in RESOURCES for rule in _rules(dict(celrules.spec_schema(r.kind)))}
    broken = set()
    for kind, spec, _, _ in CASES:
        schema = celrules.spec_schema(kind)
        for rule, message in _rules(dict(schema)):
            if any(v.message == message for v in celrules.violations(schema, spec, "spec")):
                broken.add((kind, rule, message))
    missing = sorted(f"{kind}: {message}" for kind, _, message in rules - broken)
    # A rule shared by Runbook and ClusterRunbook (the same step schema) needs a counter-example in one of them.
    shared = {(rule, message) for kind, rule, message in broken}
    missing = [m for m in missing if not any(m.endswith(message) for _, message in shared)]
    assert missing == []


@PARAMS
def test_lint_rejects_the_counter_example_naming_the_field(
    kind: str, spec: dict[str, Any], field: str, message: str
) -> None:
    doc = {"apiVersion": "paramedic.dev/v1alpha1", "kind": kind, "metadata": {"name": "x"}, "spec": spec}
    problems = lint_document("f.yaml", 0, doc)
    # The message is the rule's own when the CEL rule caught it, the schema's when a type or bound did first.
    named = [p for p in problems if p.field.startswith(field)]
    assert named, problems
