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
        "ParamedicNotLeading",
        "ParamedicRemediationsFailing",
        "ParamedicTriggersErroring",
        "ParamedicPagesFailing",
    }
    assert used(expressions) <= exported()
