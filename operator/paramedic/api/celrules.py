"""The CRDs' CEL rules, evaluated offline, so that `paramedic lint` rejects
exactly what the API server rejects.

A cross-field rule is written once, as the CEL ``x-kubernetes-validations``
entry of the model it constrains. The API server evaluates it on admission;
this module evaluates the same text, with a maintained CEL implementation
(``common-expression-language``), against a document's spec with the
schema's defaults applied, and reports the same field and message. Rules
written twice (once as CEL, once in Python) used to drift: lint accepted a
``scale`` step with ``min`` above ``max`` that the API server refused.

Transition rules (those that read ``oldSelf``) judge an update against the
stored object; offline there is no stored object, so they are skipped.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Mapping
from typing import Any

import cel

from .crd import crd
from .resources import RESOURCES


@dataclasses.dataclass(frozen=True)
class Violation:
    """A rule that does not hold: the field as the API server names it, and the rule's message."""

    field: str
    message: str


@functools.cache
def _program(rule: str) -> Any:
    return cel.compile(rule)


@functools.cache
def spec_schema(kind: str) -> Mapping[str, Any]:
    """The structural schema of a kind's spec, as generated into crds/."""
    resource = next(r for r in RESOURCES if r.kind == kind)
    schema: Mapping[str, Any] = crd(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


def _holds(rule: str, value: Any) -> bool:
    try:
        return _program(rule).execute({"self": value}) is True
    except (KeyError, TypeError, ValueError, RuntimeError):
        return False  # the API server refuses a request whose rule cannot be evaluated, too


def violations(schema: Mapping[str, Any], value: Any, path: str) -> Iterator[Violation]:
    """Every CEL rule of ``schema`` and of the schemas below it that ``value`` breaks."""
    for rule in schema.get("x-kubernetes-validations", ()):
        if "oldSelf" not in rule["rule"] and not _holds(rule["rule"], value):
            yield Violation(path + rule.get("fieldPath", ""), rule["message"])
    if isinstance(value, Mapping):
        for name, child in (schema.get("properties") or {}).items():
            if name in value:
                yield from violations(child, value[name], f"{path}.{name}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for key, item in value.items():
                yield from violations(extra, item, f"{path}[{key}]")
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            yield from violations(schema["items"], item, f"{path}[{i}]")


def check(kind: str, spec: Mapping[str, Any]) -> list[Violation]:
    """The CEL rules a kind's spec (defaults applied, in wire form) breaks."""
    return list(violations(spec_schema(kind), spec, "spec"))
