"""Every paramedic object in examples/ is valid against the API models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from paramedic.api.common import API_VERSION
from paramedic.lint import lint_document

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("apiVersion") == API_VERSION:
                found.append((f"{path.relative_to(EXAMPLES)}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return found


@pytest.mark.parametrize(("where", "doc"), documents(), ids=[w for w, _ in documents()])
def test_example_is_valid(where: str, doc: dict[str, Any]) -> None:
    assert lint_document(where, 0, doc) == []


def test_there_are_examples() -> None:
    kinds = {doc["kind"] for _, doc in documents()}
    assert {"Runbook", "ClusterRunbook", "Remediation", "RateLimitPolicy", "EscalationPolicy"} <= kinds
