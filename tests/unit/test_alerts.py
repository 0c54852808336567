"""The alerts about paramedic itself, evaluated by Prometheus's own rule engine (``promtool test rules``,
from Debian's prometheus package) on made-up series: each fires when it should and stays quiet otherwise.
The rule file is the chart's (deploy/helm/paramedic/files/alerts.yaml); deploy/observability carries the same
rules as a PrometheusRule, and each alert's runbook link is a section of docs/alerts.md."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "helm" / "paramedic" / "files" / "alerts.yaml"
PROMETHEUS_RULE = ROOT / "deploy" / "observability" / "prometheusrule.yaml"
DOCS = ROOT / "docs" / "alerts.md"
TWO_LEADERS = "paramedic replicas report holding the leader lease at once."


def rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def firing(alert: str, labels: dict[str, str], **annotations: str) -> dict[str, Any]:
    """An expected alert: its severity and static annotations from the rule, templated ones given."""
    rule = next(r for r in rules() if r["alert"] == alert)
    return {"exp_labels": {**rule["labels"], **labels}, "exp_annotations": {**rule["annotations"], **annotations}}


def promtool(tmp_path: Path, tests: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool (Debian's prometheus package) is needed to evaluate the alert rules"
    shutil.copy(RULES, tmp_path / "alerts.yaml")
    spec = {"rule_files": ["alerts.yaml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(spec))
    return subprocess.run(
        [binary, "test", "rules", str(tmp_path / "test.yaml")], capture_output=True, text=True, timeout=60
    )


def leaders(a: str, b: str, checks: list[tuple[str, str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Two replicas' paramedic_leader series, one sample a minute, and (time, alert, expected) checks."""
    return {
        "interval": "1m",
        "input_series": [
            {"series": 'paramedic_leader{pod="a"}', "values": a},
            {"series": 'paramedic_leader{pod="b"}', "values": b},
        ],
        "alert_rule_test": [{"eval_time": t, "alertname": name, "exp_alerts": exp} for t, name, exp in checks],
    }


def test_rules_are_valid() -> None:
    binary = shutil.which("promtool")
    assert binary
    checked = subprocess.run([binary, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_no_leader_fires_when_every_replica_reports_standby(tmp_path: Path) -> None:
    result = promtool(
        tmp_path,
        [
            leaders(
                "0x20",
                "0x20",
                [
                    ("4m", "ParamedicNoLeader", []),  # not before its 5 minutes
                    ("10m", "ParamedicNoLeader", [firing("ParamedicNoLeader", {})]),
                    ("10m", "ParamedicTwoLeaders", []),
                ],
            )
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_leader_fires_when_no_replica_is_scraped(tmp_path: Path) -> None:
    """absent(): with no paramedic_leader series at all (no replica up), sum() would be empty, not 0."""
    result = promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [{"series": 'up{job="other"}', "values": "1x20"}],
                "alert_rule_test": [
                    {
                        "eval_time": "10m",
                        "alertname": "ParamedicNoLeader",
                        "exp_alerts": [firing("ParamedicNoLeader", {})],
                    }
                ],
            }
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_exactly_one_leader_is_quiet_and_a_handover_gap_is_forgiven(tmp_path: Path) -> None:
    # a leads, loses the lease at minute 10; b takes over 2 minutes later (shorter than the 5 minutes' for).
    result = promtool(
        tmp_path,
        [
            leaders(
                "1x9 0x20",
                "0x11 1x20",
                [
                    ("5m", "ParamedicNoLeader", []),
                    ("13m", "ParamedicNoLeader", []),
                    ("20m", "ParamedicNoLeader", []),
                    ("20m", "ParamedicTwoLeaders", []),
                ],
            )
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_two_leaders_fires(tmp_path: Path) -> None:
    result = promtool(
        tmp_path,
        [
            leaders(
                "1x20",
                "0x4 1x15",
                [
                    ("4m", "ParamedicTwoLeaders", []),
                    (
                        "8m",
                        "ParamedicTwoLeaders",
                        [firing("ParamedicTwoLeaders", {}, summary=f"2 {TWO_LEADERS}")],
                    ),
                    ("8m", "ParamedicNoLeader", []),
                ],
            )
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_stuck_remediation_fires_after_an_hour_and_clears_when_it_ends(tmp_path: Path) -> None:
    # The oldest Remediation on replica a ages a minute a minute for 80 minutes, then ends (0).
    result = promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'paramedic_remediation_oldest_running_seconds{namespace="ops",pod="a"}',
                        "values": "0+60x80 0x10",
                    },
                    {
                        "series": 'paramedic_remediation_oldest_running_seconds{namespace="ops",pod="b"}',
                        "values": "0x90",
                    },
                ],
                "alert_rule_test": [
                    {"eval_time": "62m", "alertname": "ParamedicRemediationStuck", "exp_alerts": []},
                    {
                        "eval_time": "70m",
                        "alertname": "ParamedicRemediationStuck",
                        "exp_alerts": [
                            firing(
                                "ParamedicRemediationStuck",
                                {"namespace": "ops", "pod": "a"},
                                summary="A Remediation driven by a has been running for 1h 10m 0s.",
                            )
                        ],
                    },
                    {"eval_time": "85m", "alertname": "ParamedicRemediationStuck", "exp_alerts": []},
                ],
            }
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pages_failing_fires_while_a_channel_fails_and_clears_after_it_recovers(tmp_path: Path) -> None:
    # Failed Slack deliveries for 10 minutes (one a minute), then none; the webhook channel never fails.
    result = promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'paramedic_notifications_failed_total{channel="slack"}', "values": "0x5 1+1x10 11x40"},
                    {"series": 'paramedic_notifications_failed_total{channel="webhook"}', "values": "0x56"},
                ],
                "alert_rule_test": [
                    {"eval_time": "4m", "alertname": "ParamedicPagesFailing", "exp_alerts": []},
                    {
                        "eval_time": "12m",
                        "alertname": "ParamedicPagesFailing",
                        "exp_alerts": [
                            firing(
                                "ParamedicPagesFailing",
                                {"channel": "slack"},
                                summary="Escalation messages to slack channels are failing; on-call may not be paged.",
                            )
                        ],
                    },
                    {"eval_time": "50m", "alertname": "ParamedicPagesFailing", "exp_alerts": []},
                ],
            }
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_prometheus_rule_carries_the_same_rules() -> None:
    shipped = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert shipped["kind"] == "PrometheusRule"
    assert "namespace" not in shipped["metadata"]  # applied into the operator's namespace, whichever it is
    assert shipped["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r["alert"])
def test_each_alert_links_to_its_section_of_the_alert_docs(rule: dict[str, Any]) -> None:
    link = rule["annotations"]["runbook_url"]
    assert link == f"docs/alerts.md#{rule['alert'].lower()}"
    headings = {m.lower() for m in re.findall(r"^## (\w+)", DOCS.read_text(), re.MULTILINE)}
    assert rule["alert"].lower() in headings
