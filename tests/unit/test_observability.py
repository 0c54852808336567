"""The dashboard and alert rules only use metrics the operator exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import paramedic.records.metrics  # noqa: F401  (registers the metrics)

OBSERVABILITY = Path(__file__).resolve().parents[2] / "deploy" / "observability"


def exported() -> set[str]:
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    names = set()
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
    return names


def used(expressions: list[str]) -> set[str]:
    return {m for e in expressions for m in re.findall(r"\b(paramedic_[a-z_]+)", e)}


def test_dashboard_queries_exported_metrics() -> None:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert used(expressions)
    assert used(expressions) <= exported()


def test_alert_rules_use_exported_metrics() -> None:
    rule = yaml.safe_load((OBSERVABILITY / "prometheusrule.yaml").read_text())
    expressions = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]} >= {
        "ParamedicNoLeader",
        "ParamedicTwoLeaders",
        "ParamedicRemediationStuck",
        "ParamedicRemediationsFailing",
        "ParamedicTriggersErroring",
        "ParamedicPagesFailing",
    }
    assert used(expressions) <= exported()


def test_build_info_names_the_version_python_and_kopf() -> None:
    import platform
    from importlib.metadata import version

    from paramedic import __version__

    labels = {"version": __version__, "python": platform.python_version(), "kopf": version("kopf")}
    assert REGISTRY.get_sample_value("paramedic_build_info", labels) == 1
    [family] = [f for f in REGISTRY.collect() if f.name == "paramedic_build_info"]
    assert len(family.samples) == 1  # one series: a join in PromQL finds exactly one version per replica


def test_oldest_running_is_the_age_of_the_oldest_remediation_driven() -> None:
    from paramedic.records.metrics import RunningSince

    now = [100.0]
    running = RunningSince(clock=lambda: now[0])
    assert running.oldest() == 0  # none driven: 0, not absent, so the alert's max() stays defined
    running.start("a")
    now[0] = 130.0
    running.start("b")
    running.start("a")  # a second start (a restart of its driver task) keeps the first
    now[0] = 160.0
    assert running.oldest() == 60
    running.start("c", since=40.0)  # taken over from another leader: its age counts from its creation
    assert running.oldest() == 120
    running.end("c")
    running.end("a")
    assert running.oldest() == 30
    running.end("b")
    running.end("b")  # ending twice is harmless
    assert running.oldest() == 0


def test_the_chart_ships_the_same_dashboard() -> None:
    chart = OBSERVABILITY.parent / "helm" / "paramedic" / "files" / "grafana-dashboard.json"
    assert chart.read_text() == (OBSERVABILITY / "grafana-dashboard.json").read_text()
