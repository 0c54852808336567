"""Rate limits, the storm breaker and freeze windows, on the real control plane."""

from __future__ import annotations

import datetime
from collections import Counter
from typing import Any

from paramedic.api.common import API_VERSION, GROUP, VERSION
from paramedic.api.remediation import TERMINAL_PHASES
from paramedic_dev import simulate
from tests.cluster.test_triggers import pods, remediations
from tests.kit import Kit, fleet_crash
from tests.waiting import wait_until


def policy(paramedic: Kit, name: str, spec: dict[str, Any]) -> str:
    body = {"apiVersion": API_VERSION, "kind": "RateLimitPolicy", "metadata": {"name": name}, "spec": spec}
    paramedic.clients.custom.create_namespaced_custom_object(
        GROUP, VERSION, paramedic.namespace, "ratelimitpolicies", body
    )
    return name


def all_finished(paramedic: Kit, runbook: str, count: int) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        found = remediations(paramedic, runbook)
        finished = [r for r in found if (r.get("status") or {}).get("phase") in TERMINAL_PHASES]
        return found if len(found) == count and len(finished) == count else None

    return wait_until(done, 120, f"{count} finished remediations of {runbook}")


def storm(paramedic: Kit, breaker: dict[str, Any]) -> tuple[list[dict[str, Any]], set[str], str]:
    """50 pods of one Deployment crash-loop at once; the runbook's budget is 3 actions an hour."""
    ns, core = paramedic.namespace, paramedic.clients.core
    paramedic.deploy("fleet", replicas=50)
    tight = policy(
        paramedic,
        "tight",
        {
            "windows": [{"max": 3, "per": "1h", "scope": "Runbook"}],
            "cooldown": "0s",
            "maxInFlight": {"max": 10, "scope": "Cluster"},
            "stormBreaker": breaker,
        },
    )
    runbook = fleet_crash(paramedic, tight)
    original = {p.metadata.name for p in pods(paramedic, "fleet")}
    for name in sorted(original):
        simulate.make_crashloop(core, ns, name, restarts=4)
    found = all_finished(paramedic, runbook, 50)
    deleted = original - {p.metadata.name for p in pods(paramedic, "fleet")}
    return found, deleted, tight


def ready_reason(rem: dict[str, Any]) -> str:
    return str(next(c["reason"] for c in rem["status"]["conditions"] if c["type"] == "Ready"))


def test_storm_of_50_crashloops_with_a_budget_of_3_acts_exactly_3_times(paramedic: Kit) -> None:
    found, deleted, tight = storm(paramedic, {"enabled": False})
    phases = Counter(r["status"]["phase"] for r in found)
    assert phases == {"Succeeded": 3, "RateLimited": 47}
    assert len(deleted) == 3
    refused = [r for r in found if r["status"]["phase"] == "RateLimited"]
    assert {ready_reason(r) for r in refused} == {"RateLimitWindow"}
    assert "3 actions in the last 1h per Runbook (max 3)" in refused[0]["status"]["message"]
    for rem in refused[:5]:
        assert any(e.startswith("RateLimited") for e in paramedic.events("Remediation", rem["metadata"]["name"]))
    ledger = paramedic.clients.custom.get_namespaced_custom_object(
        GROUP, VERSION, paramedic.namespace, "ratelimitpolicies", tight
    )["status"]["ledger"]
    assert len(ledger) == 3


def test_storm_breaker_stops_acting_when_most_of_the_fleet_fails(paramedic: Kit) -> None:
    found, deleted, _ = storm(paramedic, {"maxFailingPercent": 20})
    phases = Counter(r["status"]["phase"] for r in found)
    acted = phases["Succeeded"]
    assert acted <= 3
    assert len(deleted) == acted
    refused = [r for r in found if r["status"]["phase"] != "Succeeded"]
    reasons = Counter(ready_reason(r) for r in refused)
    assert set(reasons) <= {"RateLimitWindow", "StormBreaker"}
    # Once a fifth of the fleet fails, nothing more is done: the k-th Remediation to ask counts at least k
    # failing (itself and those that asked before it, whether the index shows them yet or not), so at most
    # 10 of the 50 pass the breaker (3 admitted, the rest refused by the window) and at least 40 trip it.
    assert reasons["StormBreaker"] >= 40
    skipped = next(r for r in refused if ready_reason(r) == "StormBreaker")
    assert skipped["status"]["phase"] == "Skipped"
    assert "storm breaker" in skipped["status"]["message"]


def test_budget_survives_an_operator_restart(paramedic: Kit) -> None:
    ns, core = paramedic.namespace, paramedic.clients.core
    paramedic.deploy("svc", replicas=6)
    two = policy(
        paramedic,
        "two-per-hour",
        {"windows": [{"max": 2, "per": "1h"}], "cooldown": "0s", "stormBreaker": {"enabled": False}},
    )
    runbook = paramedic.runbook(
        {
            "trigger": {"podCrashLoop": {"minRestarts": 1}},
            "rateLimitPolicyRef": {"name": two},
            "steps": [{"deletePod": {}}],
        },
        name="svc-crash",
    )
    first, second, third, *_ = sorted(p.metadata.name for p in pods(paramedic, "svc"))
    simulate.make_crashloop(core, ns, first, restarts=2)
    simulate.make_crashloop(core, ns, second, restarts=2)
    assert Counter(r["status"]["phase"] for r in all_finished(paramedic, runbook, 2)) == {"Succeeded": 2}

    paramedic.operator.kill()
    paramedic.operator.start_and_wait()
    simulate.make_crashloop(core, ns, third, restarts=2)
    found = all_finished(paramedic, runbook, 3)
    late = next(r for r in found if r["spec"]["target"]["name"] == third)
    assert late["status"]["phase"] == "RateLimited"
    assert "2 actions in the last 1h" in late["status"]["message"]


def test_cooldown_per_target(paramedic: Kit) -> None:
    paramedic.deploy("api", replicas=1)
    calm = policy(
        paramedic, "calm", {"windows": [{"max": 10, "per": "1h"}], "cooldown": "1h", "stormBreaker": {"enabled": False}}
    )
    runbook = paramedic.runbook(
        {
            "trigger": {"podCrashLoop": {"minRestarts": 1}},
            "rateLimitPolicyRef": {"name": calm},
            "target": {"kinds": ["Deployment"]},
            "steps": [{"rolloutRestart": {}}],
        },
        name="api-crash",
    )
    core, ns = paramedic.clients.core, paramedic.namespace
    simulate.make_crashloop(core, ns, pods(paramedic, "api")[0].metadata.name, restarts=2)
    all_finished(paramedic, runbook, 1)
    # The restart replaced the pod; the new one crashes too: same target (the Deployment), inside the cooldown.
    fresh = wait_until(
        lambda: [
            p for p in pods(paramedic, "api") if not p.metadata.deletion_timestamp and p.status.phase == "Running"
        ],
        30,
        "the new pod",
    )
    simulate.make_crashloop(core, ns, fresh[0].metadata.name, restarts=2)
    found = all_finished(paramedic, runbook, 2)
    cooled = next(r for r in found if r["status"]["phase"] != "Succeeded")
    assert cooled["status"]["phase"] == "RateLimited"
    assert "cooldown 1h" in cooled["status"]["message"]


def test_freeze_window_stops_automatic_actions(paramedic: Kit) -> None:
    paramedic.deploy("shop", replicas=1)
    start = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    frozen = policy(paramedic, "frozen", {"freezeWindows": [{"name": "Black Friday", "start": start, "end": end}]})
    runbook = paramedic.runbook(
        {
            "trigger": {"podCrashLoop": {"minRestarts": 1}},
            "rateLimitPolicyRef": {"name": frozen},
            "target": {"kinds": ["Deployment"]},
            "steps": [{"rolloutRestart": {}}],
        },
        name="shop-crash",
    )
    before = paramedic.deployment("shop")["metadata"]["generation"]
    simulate.make_crashloop(
        paramedic.clients.core, paramedic.namespace, pods(paramedic, "shop")[0].metadata.name, restarts=3
    )
    [rem] = all_finished(paramedic, runbook, 1)
    assert rem["status"]["phase"] == "Skipped"
    assert "freeze window 'Black Friday'" in rem["status"]["message"]
    assert paramedic.deployment("shop")["metadata"]["generation"] == before


def test_people_are_not_rate_limited(paramedic: Kit) -> None:
    """A Remediation applied by hand is a human decision: only automatic ones spend budget."""
    paramedic.deploy("api", replicas=1)
    policy(paramedic, "none-left", {"windows": [{"max": 0, "per": "1h"}]})
    runbook = paramedic.runbook({"rateLimitPolicyRef": {"name": "none-left"}, "steps": [{"scale": {"replicas": 2}}]})
    paramedic.wait_phase(
        paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}), "Succeeded"
    )
