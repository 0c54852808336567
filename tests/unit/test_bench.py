"""The benchmark's arithmetic, without a cluster: audit-log counting, percentiles, invariants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from paramedic_dev.bench import audit, report
from paramedic_dev.bench.context import percentiles
from paramedic_dev.bench.presets import PRESETS
from paramedic_dev.bench.storms import per_refused
from paramedic_dev.bench.watches import RemediationEvents


def event(audit_id: str, stage: str, verb: str, resource: str, name: str = "", **extra: Any) -> str:
    body = {
        "auditID": audit_id,
        "stage": stage,
        "verb": verb,
        "user": {"username": extra.get("user", "paramedic-bench-operator")},
        "objectRef": {"resource": resource, "namespace": "ns", "name": name, **extra.get("ref", {})},
        "responseStatus": {"code": extra.get("code", 200)},
        "requestReceivedTimestamp": extra.get("at", "2026-01-01T00:00:01.500000Z"),
    }
    return json.dumps(body) + "\n"


def test_a_watch_logged_twice_is_one_request_and_writes_are_told_apart(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(
        event("w", "ResponseStarted", "watch", "pods")
        + event("w", "ResponseComplete", "watch", "pods")
        + event("p", "ResponseComplete", "patch", "remediations", "r1", ref={"subresource": "status"}, code=409)
        + event("o", "ResponseComplete", "get", "pods", user="someone-else")
    )
    requests = audit.read(log)
    assert [r.key for r in requests] == ["watch pods", "patch remediations/status", "get pods"]
    mine = audit.window(requests, 0, 2e9, ["paramedic-bench-operator"])
    assert audit.summary(mine) == {
        "requests": 2,
        "writes": 1,
        "conflicts": 1,
        "by_kind": {"watch pods": 1, "patch remediations/status": 1},
    }
    assert audit.window(requests, requests[0].at + 1, 2e9) == []


def test_the_incremental_reader_waits_for_a_line_to_be_complete(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    line = event("a", "ResponseComplete", "get", "pods")
    log.write_text(line[:40])
    reader = audit.AuditLog(log)
    assert reader.requests() == []
    log.write_text(line + event("b", "ResponseComplete", "delete", "pods"))
    assert [r.verb for r in reader.requests()] == ["get", "delete"]
    assert [r.write for r in reader.requests()] == [False, True]


def test_the_audit_policy_logs_only_the_given_users_without_bodies() -> None:
    rules = audit.policy(["a", "b"])["rules"]
    assert rules == [{"level": "Metadata", "users": ["a", "b"]}, {"level": "None"}]


def test_percentiles_are_nearest_rank_in_milliseconds() -> None:
    figures = percentiles([i / 1000 for i in range(1, 101)])
    assert (figures["p50_ms"], figures["p90_ms"], figures["p99_ms"], figures["max_ms"]) == (50.0, 90.0, 99.0, 100.0)
    assert percentiles([])["p50_ms"] is None


def test_invariants_fail_on_one_action_too_many_or_one_idle_write() -> None:
    results = {
        "storm": {"actions": 11, "budget": 10},
        "failover": {"actions": 10, "budget": 10},
        "idle": {"writes": 1},
    }
    checks = report.invariants(results)
    assert {name: check["ok"] for name, check in checks.items()} == {
        "storm_actions_equal_budget": False,
        "failover_actions_equal_budget": True,
        "idle_writes_zero": False,
    }
    assert "invariant storm_actions_equal_budget: FAILED (measured 11, expected 10)" in report.table(
        {**results, "invariants": checks}
    )


def test_a_refusal_costs_what_names_it() -> None:
    remediations = RemediationEvents()
    for name, phase in (("a", "Succeeded"), ("b", "RateLimited"), ("c", "RateLimited")):
        remediations("ADDED", {"metadata": {"namespace": "ns", "name": name}, "status": {"phase": phase}}, 1.0)
    refused = remediations.refused("ns")
    assert refused == {"b", "c"}
    requests = [
        audit.Request(1.0, "u", "get", "remediations", "ns", "b", 200),
        audit.Request(1.0, "u", "patch", "remediations/status", "ns", "b", 200),
        audit.Request(1.0, "u", "create", "events", "ns", "c.17f00", 201),
        audit.Request(1.0, "u", "get", "remediations", "ns", "a", 200),
        audit.Request(1.0, "u", "get", "ratelimitpolicies", "ns", "bench", 200),
    ]
    assert per_refused(requests, refused) == 1.5
    assert remediations.count("decided", "ns") == 3


def test_the_full_preset_is_the_issues() -> None:
    full = PRESETS["full"]
    assert (full.pods, full.nodes, full.runbooks, full.storm, full.budget) == (10000, 1000, 200, 1000, 10)
    assert full.victims >= 50
    assert full.total_pods < full.nodes * 250  # what the fake nodes can hold


def test_evidence_is_judged_by_a_collected_record_of_each_collector_before_the_first_step() -> None:
    from types import SimpleNamespace

    from paramedic_dev.bench import evidence

    remediations = RemediationEvents()

    def seen(name: str, phase: str, *records: tuple[str, str, int | None]) -> None:
        found = [{"name": n, "outcome": o, **({"after": a} if a is not None else {})} for n, o, a in records]
        status = {"phase": phase, "evidence": found}
        remediations("MODIFIED", {"metadata": {"namespace": "ns", "name": name}, "status": status}, 1.0)

    seen("whole", "Succeeded", ("logs", "Collected", None), ("state", "Collected", None))
    seen("failed-one", "Succeeded", ("logs", "Failed", None), ("state", "Collected", None))
    seen("only-after", "Succeeded", ("logs", "Collected", 0), ("state", "Collected", 0))
    seen("refused", "RateLimited")
    bench = SimpleNamespace(remediations=remediations)
    # a Failed (or TimedOut) record is evidence gathered; only records after a step are not
    assert evidence.missing(bench, "ns", ["logs", "state"]) == ["only-after"]  # type: ignore[arg-type]
    assert remediations.evidence_of("ns", "whole")[0] > 0
    assert remediations.evidence_of("ns", "refused") == (0, [])
    storm = {"actions": 5, "budget": 5, "acted_remediations": 5, "evidence_missing": 0}
    results: dict[str, Any] = {"storm": storm, "evidence": {"pods": 50, "acted": 50}}
    results["evidence"]["missing"] = 1
    check = report.invariants(results)["evidence_gathered_for_every_acted"]
    assert not check["ok"]
    assert check["measured"].startswith("54 of 55")
    results["evidence"]["missing"] = 0
    assert report.invariants(results)["evidence_gathered_for_every_acted"]["ok"]
