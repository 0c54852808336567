"""Every paramedic object in examples/ is valid against the API models."""

from __future__ import annotations

import re
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


ROOT = EXAMPLES.parent
COOKBOOK = ROOT / "docs" / "cookbook.md"
TEST_ID = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _cookbook_rows() -> list[tuple[str, list[tuple[str, str]]]]:
    """(file column, test ids) of each row of the cookbook's table."""
    rows = []
    for line in COOKBOOK.read_text().splitlines():
        if line.startswith("| **"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows.append((cells[1], TEST_ID.findall(cells[-1])))
    return rows


def _test_exists(path: str, name: str) -> bool:
    source = ROOT / path
    return source.exists() and re.search(rf"^def {name}\(", source.read_text(), re.MULTILINE) is not None


def test_every_example_file_is_in_the_cookbook_with_a_test_that_exists() -> None:
    rows = _cookbook_rows()
    assert rows
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        named = [tests for file, tests in rows if f"`{path.relative_to(EXAMPLES)}`" in file]
        assert named, f"examples/{path.relative_to(EXAMPLES)} has no row in docs/cookbook.md"
        assert all(named), f"a row of examples/{path.relative_to(EXAMPLES)} names no test"
    for _, tests in rows:
        assert tests, "every cookbook row names the test that proves it"
        missing = [f"{p}::{n}" for p, n in tests if not _test_exists(p, n)]
        assert not missing, f"docs/cookbook.md names tests that do not exist: {missing}"


_C = "tests/cluster/"
#: What README's Status section says works, and the tests that show it does.
STATUS_CLAIMS = {
    "install manifests": (_C + "test_deploy.py::test_operator_works_with_only_its_rbac",),
    "Helm chart": (_C + "test_chart.py::test_helm_chart_lints_renders_and_passes_server_side_dry_run",),
    "leader election": (_C + "test_leader.py::test_standby_takes_over_a_killed_leader_without_repeating_actions",),
    "metrics": (_C + "test_metrics.py::test_metrics_count_remediations_actions_and_triggers",),
    "the CLI": (
        _C + "test_cli.py::test_approve_then_history",
        "tests/unit/test_cli.py::test_lint_names_file_document_and_field",
    ),
    "scale benchmark": (_C + "test_bench.py::test_every_figure_is_measured",),
    "escalation to humans": (_C + "test_escalation.py::test_levels_fire_in_order_with_their_delays_then_resolve",),
    "storm breaker": (_C + "test_storm.py::test_storm_of_100_with_a_budget_of_5_acts_5_times_with_few_requests",),
    "silences held while a fix runs": (
        _C + "test_silences.py::test_the_silence_is_held_extended_and_expired_at_the_end",
    ),
    "AWS actions": (_C + "test_cloud.py::test_replace_node_example_cordons_drains_and_terminates_the_instance",),
}
#: Words that would say a feature is not there yet.
NOT_YET = re.compile(r"\b(planned|not yet|coming soon|to do|todo|unimplemented|work in progress)\b", re.IGNORECASE)


def _status_section() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Status") :]
    following = section.find("\n## ", 1)
    return section if following < 0 else section[:following]


def test_readme_status_is_true() -> None:
    status = _status_section()
    assert not NOT_YET.findall(status), "README's Status calls something not there yet; every feature it names works"
    for claim, tests in STATUS_CLAIMS.items():
        assert " ".join(claim.split()) in " ".join(status.split()), f"README's Status no longer names {claim!r}"
        for test in tests:
            path, name = test.split("::")
            assert _test_exists(path, name), f"{claim!r} is backed by {test}, which does not exist"
