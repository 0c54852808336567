"""The results: invariants (checked in every preset), the table against the issue's
targets (for the full preset; a smaller preset is printed against them too, for
orientation, but never judged by time), and the JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import evidence

Row = tuple[str, str, str, str]


def invariants(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What must hold whatever the machine: each with the figure it was judged by."""
    checks: dict[str, dict[str, Any]] = {}
    storm = results.get("storm")
    if storm:
        checks["storm_actions_equal_budget"] = {
            "ok": storm["actions"] == storm["budget"],
            "measured": storm["actions"],
            "expected": storm["budget"],
        }
    failover = results.get("failover")
    if failover:
        checks["failover_actions_equal_budget"] = {
            "ok": failover["actions"] == failover["budget"],
            "measured": failover["actions"],
            "expected": failover["budget"],
        }
    gathered = evidence.invariant(results)
    if gathered:
        checks["evidence_gathered_for_every_acted"] = gathered
    idle = results.get("idle")
    if idle:
        checks["idle_writes_zero"] = {"ok": idle["writes"] == 0, "measured": idle["writes"], "expected": 0}
    return checks


def _get(results: dict[str, Any], *path: str) -> Any:
    value: Any = results
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}{unit}"
    return f"{value}{unit}"


def rows(results: dict[str, Any]) -> list[Row]:
    """(figure, measured, floor / ratio, target) for the table."""
    r = results
    fl = r.get("floor") or {}
    ratio = r.get("detect_vs_floor") or {}

    def latency(key: str, target: str) -> Row:
        return (
            f"detect->act {key.removesuffix('_ms')}",
            _fmt(_get(r, "detect", key), " ms"),
            f"{_fmt(fl.get(key), ' ms')} (x{_fmt(ratio.get(key))})",
            target,
        )

    def s(key: str) -> Any:
        return _get(r, "storm", key)

    def f(key: str) -> Any:
        return _get(r, "failover", key)

    def e(key: str) -> Any:
        return _get(r, "evidence", key)

    def st(key: str) -> Any:
        return _get(r, "startup", key)

    return [
        ("workload", _fmt(r.get("workload")), "", "10,000 pods / 1,000 nodes / 200 runbooks"),
        latency("p50_ms", "<= 30 ms"),
        latency("p90_ms", ""),
        latency("p99_ms", "<= 150 ms"),
        latency("max_ms", ""),
        ("storm: actions / budget", f"{_fmt(s('actions'))} / {_fmt(s('budget'))}", "", "exactly the budget"),
        ("storm: first action", _fmt(s("first_action_s"), " s"), "", "<= 1 s"),
        ("storm: budget-th action", _fmt(s("budget_th_action_s"), " s"), "", ""),
        (f"storm: all {_fmt(s('pods'))} decided", _fmt(s("all_decided_s"), " s"), "", "<= 10 s"),
        ("storm: API requests / Remediation", _fmt(s("requests_per_remediation")), "", "<= 3 per refused one"),
        ("storm: writes / Remediation", _fmt(s("writes_per_remediation")), "", ""),
        ("storm: requests naming a refused one", _fmt(s("requests_naming_each_refused")), "", "(lower bound)"),
        ("storm: operator CPU until all decided", _fmt(s("operator_cpu_s"), " s"), "", ""),
        ("RSS peak", _fmt(_get(r, "rss", "peak_mb"), " MB"), "", "<= 250 MB"),
        (f"evidence: {_fmt(e('pods'))} acted with evidence", _fmt(e("acted")), "", "all"),
        ("evidence: every collector Collected (none timed out)", _fmt(e("collected_all")), "", ""),
        ("evidence: all decided", _fmt(e("all_decided_s"), " s"), "", ""),
        (
            "evidence: RSS before / peak",
            f"{_fmt(e('rss_before_mb'))} / {_fmt(e('rss_peak_mb'), ' MB')}",
            "",
            "<= 250 MB",
        ),
        ("evidence: API requests / Remediation", _fmt(e("requests_per_remediation")), "", ""),
        ("evidence: writes / Remediation", _fmt(e("writes_per_remediation")), "", ""),
        (
            "evidence: status.evidence bytes (mean / max)",
            f"{_fmt(e('status_evidence_bytes_mean'))} / {_fmt(e('status_evidence_bytes_max'))}",
            "",
            "",
        ),
        ("evidence: operator CPU until all decided", _fmt(e("operator_cpu_s"), " s"), "", ""),
        ("RSS steady (idle median)", _fmt(_get(r, "idle", "rss_steady_mb"), " MB"), "", ""),
        ("start-up: runbooks armed", _fmt(st("armed_s"), " s"), "", "<= 10 s"),
        ("start-up: pre-existing crash loop acted", _fmt(st("action_after_armed_s"), " s after armed"), "", "<= 1 s"),
        ("start-up: operator CPU until armed", _fmt(st("cpu_to_armed_s"), " s"), "", ""),
        ("start-up: runbook writes / runbook", _fmt(st("runbook_writes_per_runbook")), "", "<= 1 (0 if unchanged)"),
        ("failover: actions / budget", f"{_fmt(f('actions'))} / {_fmt(f('budget'))}", "", "exactly the budget"),
        (f"failover: lease ({_fmt(f('lease_s'), ' s')}) taken", _fmt(f("lease_taken_s"), " s"), "", ""),
        ("failover: standby first write", _fmt(f("standby_first_write_s"), " s"), "", "<= lease + 2 s"),
        ("failover: standby first action", _fmt(f("standby_first_action_s"), " s"), "", ""),
        ("failover: standby RSS before the kill", _fmt(f("standby_rss_before_kill_mb"), " MB"), "", ""),
        (f"idle ({_fmt(_get(r, 'idle', 'seconds'), ' s')}): requests", _fmt(_get(r, "idle", "requests")), "", ""),
        ("idle: writes", _fmt(_get(r, "idle", "writes")), "", "0"),
        ("idle: operator CPU", _fmt(_get(r, "idle", "cpu_s"), " s"), "", ""),
    ]


def table(results: dict[str, Any]) -> str:
    header: Row = ("figure", "measured", "floor (ratio)", "target (full preset)")
    body = rows(results)
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(4)]

    def line(row: Row) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))

    out = [line(header) + " |", "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(row) + " |" for row in body]
    checks = results.get("invariants") or {}
    for name, check in checks.items():
        verdict = "ok" if check["ok"] else "FAILED"
        out.append(f"invariant {name}: {verdict} (measured {check['measured']}, expected {check['expected']})")
    return "\n".join(out)


def write(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
