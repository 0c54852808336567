"""The benchmark's smoke preset, as CI runs it: its own control plane and
operator, then only its invariants are asserted (never a time: the machine is
shared). The full preset is ``make bench``; see docs/performance.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from paramedic_dev.bench import report
from paramedic_dev.bench.presets import PRESETS
from paramedic_dev.bench.run import run


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out: Path = tmp_path_factory.mktemp("bench") / "results-smoke.json"
    found = run(PRESETS["smoke"], out, say=lambda line: None)
    print(report.table(found))
    assert out.exists()
    return found


def test_every_figure_is_measured(results: dict[str, Any]) -> None:
    for phase in ("floor", "detect"):
        assert results[phase]["n"] == PRESETS["smoke"].victims
        assert results[phase]["p50_ms"] > 0
    assert results["startup"]["armed_s"] > 0
    assert results["startup"]["first_action_s"] >= results["startup"]["armed_s"]
    assert results["rss"]["peak_mb"] > 0
    assert results["storm"]["requests_per_remediation"] > 0
    assert results["failover"]["lease_taken_s"] is not None
    assert "| detect->act p50" in report.table(results)


def test_a_storm_acts_exactly_the_budget(results: dict[str, Any]) -> None:
    storm = results["storm"]
    assert storm["actions"] == storm["budget"], storm
    assert sum(storm["phases"].values()) == storm["pods"]


def test_a_failover_mid_storm_still_acts_exactly_the_budget(results: dict[str, Any]) -> None:
    failover = results["failover"]
    assert failover["actions"] == failover["budget"], failover
    assert sum(failover["phases"].values()) == failover["pods"]


def test_every_acted_remediation_gathered_its_evidence(results: dict[str, Any]) -> None:
    """The evidence phase's Remediations all act, each after a record of every collector (logs served by
    KWOK, Events, summary); so do the storm's admitted ones (Events, summary). Whether each collector
    finished within its timeout depends on the machine: that some found real text is asserted, not all."""
    evidence = results["evidence"]
    assert evidence["acted"] == evidence["pods"] == PRESETS["smoke"].evidence, evidence["phases"]
    assert evidence["missing"] == 0, evidence["record_outcomes"]
    outcomes = evidence["record_outcomes"]
    for name in evidence["collectors"]:
        assert sum(n for kind, n in outcomes.items() if kind.startswith(f"{name} ")) == evidence["pods"], outcomes
        assert outcomes.get(f"{name} Collected", 0) > 0, outcomes
    assert evidence["status_evidence_bytes_mean"] > 0
    assert evidence["per_remediation_by_kind"]["create configmaps"] == 1.0  # one ConfigMap per Remediation
    assert results["storm"]["evidence_missing"] == 0
    assert results["storm"]["acted_remediations"] == results["storm"]["budget"]
    assert results["invariants"]["evidence_gathered_for_every_acted"]["ok"]


def test_the_idle_operator_writes_nothing(results: dict[str, Any]) -> None:
    assert results["idle"]["writes"] == 0, results["idle"]
