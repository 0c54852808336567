"""The field audit is complete and true to the code: every spec field of every CRD has an entry in
tests/field_audit.py, every entry names a field that exists and tests that exist, and the fields found
doing nothing are reported (strict xfail: once one works, this fails until its entry names a real test)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paramedic.api import crdgen
from paramedic.api.resources import RESOURCES
from tests.field_audit import FIELDS, NoEffect
from tests.unit import test_fields

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK_KINDS = ("Runbook", "ClusterRunbook")


def _walk(node: dict[str, Any], path: str) -> Iterator[str]:
    """Every field below ``node``, named as the generated schema names it; a node that keeps unknown
    fields (x-kubernetes-preserve-unknown-fields) is a field, and nothing below it is."""
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return
    for name, child in (node.get("properties") or {}).items():
        yield f"{path}.{name}"
        yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


def schema_fields() -> set[str]:
    """``"<Kind> <path>"`` for every spec field of every CRD."""
    found = set()
    for resource in RESOURCES:
        [version] = crdgen.crd(resource)["spec"]["versions"]
        spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        found |= {f"{resource.kind} {path}" for path in _walk(spec, "spec")}
    return found


def expand(key: str) -> list[str]:
    """A table key as the fields it stands for (``*Runbook`` is both Runbook and ClusterRunbook)."""
    kind, path = key.split(" ", 1)
    return [f"{k} {path}" for k in RUNBOOK_KINDS] if kind == "*Runbook" else [key]


def covered() -> dict[str, str]:
    """Each field the table names, with the key that names it."""
    table: dict[str, str] = {}
    for key in FIELDS:
        for field in expand(key):
            assert field not in table, f"{field} is listed twice: {table[field]!r} and {key!r}"
            table[field] = key
    return table


def test_the_schema_walk_finds_the_fields_it_should() -> None:
    fields = schema_fields()
    assert "Runbook spec.steps[].scale.min" in fields
    assert "ClusterRunbook spec.allowedNamespaces.matchLabels" in fields
    assert "Remediation spec.trigger.evidence" in fields
    # A ClusterRunbook's Job is a whole JobSpec, kept as written: the field is listed, its insides are not.
    assert "ClusterRunbook spec.steps[].runJob.template.spec" in fields
    assert not [f for f in fields if f.startswith("ClusterRunbook spec.steps[].runJob.template.spec.")]
    assert not [f for f in fields if " status" in f]


def test_every_spec_field_has_an_entry() -> None:
    missing = sorted(schema_fields() - set(covered()))
    assert not missing, (
        "spec fields without an entry in tests/field_audit.py (add the tests that show each does what its "
        "description says, or a NoEffect):\n  " + "\n  ".join(missing)
    )


def test_every_entry_names_a_field_that_exists() -> None:
    fields = schema_fields()
    gone = sorted({key for field, key in covered().items() if field not in fields})
    assert not gone, "entries in tests/field_audit.py for fields no CRD has:\n  " + "\n  ".join(gone)


def _test_exists(node_id: str) -> str | None:
    """Why ``node_id`` names no test, or None when it does."""
    file, _, name = node_id.partition("::")
    name = name.split("[", 1)[0]
    path = ROOT / file
    if not name or not file.startswith("tests/") or not path.is_file():
        return f"{node_id}: no such file"
    if not re.search(rf"^(async )?def {re.escape(name)}\(", path.read_text(), re.MULTILINE):
        return f"{node_id}: no def {name} in {file}"
    return None


def test_every_entry_names_tests_that_exist() -> None:
    problems = []
    for key, coverage in FIELDS.items():
        if isinstance(coverage, NoEffect):
            if not callable(getattr(test_fields, coverage.probe, None)):
                problems.append(f"{key}: no probe {coverage.probe} in tests/unit/test_fields.py")
            continue
        if not coverage:
            problems.append(f"{key}: no test named")
        problems += [f"{key}: {why}" for why in map(_test_exists, coverage) if why]
    assert not problems, "\n".join(problems)


NO_EFFECT = {key: coverage for key, coverage in FIELDS.items() if isinstance(coverage, NoEffect)}


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(key, marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=str(no)))
        for key, no in NO_EFFECT.items()
    ],
)
def test_no_field_is_without_effect(key: str) -> None:
    """Fields found doing nothing, reported: each entry's probe checks what the description promises.
    When a probe passes, this fails (strict xfail) until the entry names the tests that show the field works."""
    probe = getattr(test_fields, NO_EFFECT[key].probe)
    probe()
