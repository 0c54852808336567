"""Storms on the real control plane: 100 crash loops at once under one runbook whose budget is 5.

Besides the outcome (exactly the budget acted on, everything else refused
with a reason), these tests count the API requests the operator made (its
own request counter, see paramedic.records.requests) and bound them per
Remediation: an incident is the API server's worst moment to be hammered.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from paramedic.api.common import GROUP, VERSION
from paramedic.api.remediation import TERMINAL_PHASES
from paramedic_dev import simulate
from paramedic_dev.cluster import DevCluster
from paramedic_dev.install import OperatorProcess
from tests.cluster.test_leader import holder, leader_replicas
from tests.cluster.test_metrics import samples
from tests.cluster.test_safety import policy
from tests.cluster.test_triggers import pods, remediations
from tests.kit import Kit, fleet_crash
from tests.waiting import wait_until

SIZE, BUDGET = 100, 5


@pytest.fixture
def replicas(paramedic: Kit, cluster: DevCluster) -> Iterator[list[OperatorProcess]]:
    with leader_replicas(paramedic, cluster, "storm-replica") as made:
        yield made


def requests_made(port: int) -> Counter[tuple[str, str, str]]:
    """(client, verb, resource) -> requests, watches left out (long-lived streams, opened once)."""
    made: Counter[tuple[str, str, str]] = Counter()
    for (name, labels), value in samples(port).items():
        found = dict(labels)
        if name == "paramedic_api_requests_total" and found["verb"] != "watch":
            made[found["client"], found["verb"], found["resource"]] += int(value)
    return made


def prepare(paramedic: Kit) -> tuple[str, str, set[str]]:
    paramedic.deploy("fleet", replicas=SIZE)
    wait_until(lambda: len(pods(paramedic, "fleet")) == SIZE, 60, f"{SIZE} pods")
    budget = policy(
        paramedic,
        "budget",
        {
            "windows": [{"max": BUDGET, "per": "1h", "scope": "Runbook"}],
            "cooldown": "0s",
            "maxInFlight": {"max": 10, "scope": "Cluster"},
            # Counted on every admission, but never tripping: the breaker's own semantics are test_safety's.
            "stormBreaker": {"maxFailingPercent": 100, "maxFailing": 1000},
        },
    )
    runbook = fleet_crash(paramedic, budget)
    return runbook, budget, {p.metadata.name for p in pods(paramedic, "fleet")}


def crash(paramedic: Kit, names: set[str]) -> None:
    """Every pod crash-loops at once (as far as ten clients in parallel make it)."""
    with ThreadPoolExecutor(10) as pool:
        list(
            pool.map(
                lambda name: simulate.make_crashloop(paramedic.clients.core, paramedic.namespace, name, restarts=3),
                sorted(names),
            )
        )


def decided(paramedic: Kit, runbook: str) -> list[dict[str, Any]] | None:
    found = remediations(paramedic, runbook)
    done = [r for r in found if (r.get("status") or {}).get("phase") in TERMINAL_PHASES]
    return found if len(found) == SIZE and len(done) == SIZE else None


def check_outcome(paramedic: Kit, runbook: str, budget: str, original: set[str], found: list[dict[str, Any]]) -> None:
    phases = Counter(r["status"]["phase"] for r in found)
    assert phases == {"Succeeded": BUDGET, "RateLimited": SIZE - BUDGET}
    assert len(original - {p.metadata.name for p in pods(paramedic, "fleet")}) == BUDGET
    ledger = paramedic.clients.custom.get_namespaced_custom_object(
        GROUP, VERSION, paramedic.namespace, "ratelimitpolicies", budget
    )["status"]["ledger"]
    assert len(ledger) == BUDGET
    assert {e["remediation"] for e in ledger} == {
        f"{paramedic.namespace}/{r['metadata']['name']}" for r in found if r["status"]["phase"] == "Succeeded"
    }


def test_storm_of_100_with_a_budget_of_5_acts_5_times_with_few_requests(paramedic: Kit, metrics_port: int) -> None:
    runbook, budget, original = prepare(paramedic)
    before = requests_made(metrics_port)
    began = time.monotonic()
    crash(paramedic, original)
    found = wait_until(lambda: decided(paramedic, runbook), 180, f"{SIZE} decided remediations", every=0.2)
    seconds = time.monotonic() - began
    made = requests_made(metrics_port) - before
    check_outcome(paramedic, runbook, budget, original, found)
    total = sum(made.values())
    print(
        f"\nstorm of {SIZE}, budget {BUDGET}: decided in {seconds:.1f}s; {total} API requests, "
        f"{total / SIZE:.1f} per Remediation"
    )
    for (client, verb, resource), count in made.most_common():
        print(f"  {count:6d} {client:9} {verb} {resource}")
    ours = Counter({(verb, resource): n for (client, verb, resource), n in made.items() if client == "paramedic"})
    kopf = sum(n for (client, _, _), n in made.items() if client == "kopf")
    # The trigger side (creating each Remediation, counting the fire on the Runbook) is not admission's.
    engine = sum(ours.values()) - ours[("create", "remediations")] - ours[("patch", "runbooks/status")]
    assert ours[("list", "remediations")] == 0  # the storm breaker counts from the index
    assert ours[("get", "remediations")] <= 10  # the driver works from the watch, not by polling
    assert ours[("patch", "ratelimitpolicies/status")] + ours[("get", "ratelimitpolicies")] <= 2 * BUDGET + 4
    # A refused Remediation costs 3 (its target read, its status write, its Event); an acted one a few more.
    assert engine <= 3 * (SIZE - BUDGET) + 20 * BUDGET, made
    # Kopf stores nothing on a Remediation (its driver is not a daemon: no finalizer to add and remove).
    assert kopf == 0, made


def under_way(paramedic: Kit, runbook: str) -> None:
    wait_until(
        lambda: len([r for r in remediations(paramedic, runbook) if (r.get("status") or {}).get("phase")]) >= 3,
        60,
        "the storm under way",
        every=0.05,
    )


def test_storm_survives_a_kill_mid_storm(paramedic: Kit) -> None:
    runbook, budget, original = prepare(paramedic)
    crash(paramedic, original)
    under_way(paramedic, runbook)
    paramedic.operator.kill()
    paramedic.operator.start_and_wait()
    found = wait_until(lambda: decided(paramedic, runbook), 180, f"{SIZE} decided remediations", every=0.2)
    check_outcome(paramedic, runbook, budget, original, found)


def test_storm_survives_a_failover_mid_storm(paramedic: Kit, replicas: list[OperatorProcess]) -> None:
    from kubernetes import client

    leases = client.CoordinationV1Api(paramedic.clients.api_client)
    first, second = replicas
    first.start_and_wait()
    wait_until(lambda: holder(leases) == "storm-replica-0", 30, "storm-replica-0 to lead")
    second.start()
    wait_until(lambda: "waiting for leadership" in second.log.read_text(), 30, "storm-replica-1 to stand by")
    runbook, budget, original = prepare(paramedic)
    crash(paramedic, original)
    under_way(paramedic, runbook)
    first.kill()
    found = wait_until(lambda: decided(paramedic, runbook), 180, f"{SIZE} decided remediations", every=0.2)
    check_outcome(paramedic, runbook, budget, original, found)
    assert "became the leader" in second.log.read_text()
