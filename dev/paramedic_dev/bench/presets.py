"""The benchmark's sizes: ``smoke`` for CI, ``medium`` to check it scales, ``full`` for the issue's targets."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    nodes: int
    #: Background pods (Deployments of ``per_deployment`` replicas), besides the measured ones.
    pods: int
    runbooks: int
    #: detect->act samples, one at a time (the floor takes as many).
    victims: int
    storm: int
    budget: int
    failover_storm: int
    failover_budget: int
    idle_seconds: float
    lease_seconds: float
    #: Remediations that all act and gather evidence (logs, events, summary) in the evidence phase.
    evidence: int = 50
    per_deployment: int = 10
    #: Client rate of kube-controller-manager and kube-scheduler (pods must come up in reasonable time).
    component_qps: int = 500
    #: How long a storm may take to be decided before the run gives up.
    storm_timeout: float = 300.0
    #: How long the evidence phase's Remediations may take to be decided (each acts and gathers).
    evidence_timeout: float = 600.0

    @property
    def total_pods(self) -> int:
        return self.pods + self.victims + 1 + self.storm + self.failover_storm + self.victims + self.evidence


PRESETS = {
    "smoke": Preset(
        name="smoke",
        nodes=10,
        pods=200,
        runbooks=20,
        victims=10,
        storm=50,
        budget=5,
        failover_storm=50,
        failover_budget=5,
        idle_seconds=15,
        lease_seconds=4,
        storm_timeout=120,
        evidence=50,
        evidence_timeout=180,
    ),
    "medium": Preset(
        name="medium",
        nodes=100,
        pods=2000,
        runbooks=100,
        victims=50,
        storm=200,
        budget=10,
        failover_storm=200,
        failover_budget=10,
        idle_seconds=60,
        lease_seconds=15,
        evidence=1000,
    ),
    "full": Preset(
        name="full",
        nodes=1000,
        pods=10000,
        runbooks=200,
        victims=50,
        storm=1000,
        budget=10,
        failover_storm=1000,
        failover_budget=10,
        idle_seconds=60,
        lease_seconds=15,
        storm_timeout=600,
        evidence=1000,
    ),
}
