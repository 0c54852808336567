"""Offline validation of paramedic YAML with the same models the operator uses.

Errors name the file, the document (index, kind/name) and the field.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from paramedic.actions import CLUSTER_ONLY, NODE_ACTIONS
from paramedic.api.common import API_VERSION
from paramedic.api.policies import EscalationPolicySpec, RateLimitPolicySpec
from paramedic.api.remediation import RemediationSpec
from paramedic.api.runbook import ClusterRunbookSpec, RunbookSpec
from paramedic.triggers.series import PatternError, compile_pattern

MODELS: dict[str, type[BaseModel]] = {
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
        return [
            Problem(file, index, what, "spec." + ".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()
        ]
    problems = [Problem(file, index, what, f, m) for f, m in _identity_rules(spec)]
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
    if kind == "Runbook":
        assert isinstance(spec, RunbookSpec)
        for i, step in enumerate(spec.steps):
            if step.action in CLUSTER_ONLY:
                problems.append(
                    Problem(
                        file,
                        index,
                        what,
                        f"spec.steps[{i}].{step.action}",
                        "node and cloud actions need a ClusterRunbook",
                    )
                )
    if kind == "ClusterRunbook":
        assert isinstance(spec, ClusterRunbookSpec)
        node_steps = [s.action for s in spec.steps if s.action in NODE_ACTIONS]
        if node_steps and "Node" not in spec.target.kinds:
            problems.append(
                Problem(
                    file,
                    index,
                    what,
                    "spec.target.kinds",
                    f"node actions ({', '.join(node_steps)}) need Node in target.kinds, so that target.selector "
                    "is checked on the node acted on",
                )
            )
    return problems


def lint_file(path: Path) -> list[Problem]:
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except (OSError, yaml.YAMLError) as exc:
        return [Problem(str(path), 0, "-", "-", f"cannot read: {exc}")]
    return [p for i, doc in enumerate(documents) for p in lint_document(str(path), i, doc)]


def _identity_rules(spec: BaseModel) -> list[tuple[str, str]]:
    """The CRD's CEL rules on who approves, resolves and requests (not model validators: the engine must still
    parse runbook snapshots and Remediations recorded before these fields existed)."""
    found = []
    if isinstance(spec, RunbookSpec) and spec.requires_approval and spec.approvers is None:
        found.append(("spec.approvers", "approvers must name who may approve when requiresApproval is true"))
    if isinstance(spec, RemediationSpec):
        if spec.approved and not spec.approved_by:
            found.append(("spec.approvedBy", "spec.approvedBy must name who approves when spec.approved is true"))
        if spec.resolved and not spec.resolved_by:
            found.append(("spec.resolvedBy", "spec.resolvedBy must name who resolves when spec.resolved is true"))
    return found
