"""Prometheus metrics: what paramedic does, how fast, and what it refused.

Served on ``--metrics-port`` at /metrics (prometheus_client's own server).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

REMEDIATIONS = Counter(
    "paramedic_remediations_total", "Remediations that reached a final phase.", ["runbook", "phase", "reason"]
)
ACTION_SECONDS = Histogram(
    "paramedic_action_duration_seconds",
    "From a step's plan to its outcome (verification included).",
    ["action", "outcome"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
)
DETECT_TO_ACT = Histogram(
    "paramedic_detect_to_act_seconds",
    "From a trigger firing to the first action applied.",
    ["trigger"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
REFUSED = Counter(
    "paramedic_refused_total",
    "Automatic Remediations not let through (rate limit, cooldown, storm breaker, freeze).",
    ["reason"],
)
IN_FLIGHT = Gauge("paramedic_remediations_in_flight", "Remediations this replica is driving now.")
FIRED = Counter("paramedic_triggers_fired_total", "Remediations created by triggers.", ["trigger"])
TRIGGER_ERRORS = Counter("paramedic_trigger_errors_total", "Trigger evaluations that failed.", ["trigger"])
LEADER = Gauge("paramedic_leader", "1 while this replica holds the leader lease (or runs without election).")
ESCALATIONS = Counter("paramedic_escalation_notifications_total", "Messages sent to humans.", ["kind", "outcome"])
NOTIFICATIONS_FAILED = Counter(
    "paramedic_notifications_failed_total",
    "Messages to humans a channel did not accept after their retries (the ParamedicPagesFailing alert).",
    ["channel"],
)


def serve(port: int, host: str = "0.0.0.0") -> None:
    start_http_server(port, addr=host)
