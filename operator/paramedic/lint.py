"""Offline validation of paramedic YAML with the same models the operator uses.

Errors name the file, the document (index, kind/name) and the field.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from paramedic.api import celrules
from paramedic.api.common import API_VERSION, Model
from paramedic.api.policies import EscalationPolicySpec, RateLimitPolicySpec
from paramedic.api.remediation import RemediationSpec
from paramedic.api.runbook import ClusterRunbookSpec, RunbookSpec
from paramedic.triggers.series import PatternError, compile_pattern

MODELS: dict[str, type[Model]] = {
    "Runbook": RunbookSpec,
    "ClusterRunbook": ClusterRunbookSpec,
    "Remediation": RemediationSpec,
    "RateLimitPolicy": RateLimitPolicySpec,
    "EscalationPolicy": EscalationPolicySpec,
}


@dataclasses.dataclass(frozen=True)
class Problem:
    file: str
    document: int
    what: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: document {self.document} ({self.what}): {self.field}: {self.message}"


def lint_document(file: str, index: int, doc: Any) -> list[Problem]:
    if not isinstance(doc, dict) or doc.get("apiVersion") != API_VERSION:
        return []
    kind = str(doc.get("kind"))
    what = f"{kind}/{(doc.get('metadata') or {}).get('name', '?')}"
    model = MODELS.get(kind)
    if model is None:
        return [Problem(file, index, what, "kind", f"unknown kind {kind!r}")]
    try:
        spec = model.model_validate(doc.get("spec") or {})
    except ValidationError as exc:
        return [Problem(file, index, what, field_path(e["loc"]), e["msg"]) for e in exc.errors()]
    # Cross-field rules are the CRDs' own CEL, evaluated here as the API server does.
    problems = [Problem(file, index, what, v.field, v.message) for v in celrules.check(kind, spec.dump())]
    if isinstance(spec, RunbookSpec) and spec.trigger.alertmanager is not None:
        # The API server cannot check RE2 syntax; the operator would skip the runbook (not Ready).
        for i, matcher in enumerate(spec.trigger.alertmanager.matchers):
            if not matcher.is_regex:
                continue
            try:
                compile_pattern(matcher.value)
            except PatternError as exc:
                field = f"spec.trigger.alertmanager.matchers[{i}].value"
                problems.append(Problem(file, index, what, field, str(exc)))
    return problems


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location named as the API server names fields: spec.steps[0].scale.min."""
    return "spec" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


def lint_file(path: Path) -> list[Problem]:
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except (OSError, yaml.YAMLError) as exc:
        return [Problem(str(path), 0, "-", "-", f"cannot read: {exc}")]
    return [p for i, doc in enumerate(documents) for p in lint_document(str(path), i, doc)]
