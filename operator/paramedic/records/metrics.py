"""Prometheus metrics: what paramedic does, how fast, and what it refused.

Served on ``--metrics-port`` at /metrics (prometheus_client's own server).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from paramedic import __version__

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


class RunningSince:
    """Since when each Remediation this replica drives exists, for the age of the oldest.

    The age counts from the Remediation's creation (wall clock, from its creationTimestamp), not from when
    this replica began driving it, so that a leader hand-over does not reset a stuck one's age. A gauge of
    the age (not a timestamp) so that the stuck-Remediation alert needs no ``time()`` and reads 0 on a
    replica driving nothing.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._started: dict[str, float] = {}

    def start(self, uid: str, since: float | None = None) -> None:
        """``since``: the creation time (seconds since the epoch); now when unknown."""
        self._started.setdefault(uid, self._clock() if since is None else since)

    def end(self, uid: str) -> None:
        self._started.pop(uid, None)

    def oldest(self) -> float:
        return self._clock() - min(self._started.values()) if self._started else 0.0


RUNNING = RunningSince()
OLDEST_RUNNING = Gauge(
    "paramedic_remediation_oldest_running_seconds",
    "Age since creation of the oldest Remediation this replica is driving (0 when none): a stuck one shows here.",
)
OLDEST_RUNNING.set_function(RUNNING.oldest)


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


BUILD_INFO = Gauge(
    "paramedic_build_info", "Always 1; the labels say what runs (join on it in queries).", ["version", "python", "kopf"]
)
BUILD_INFO.labels(version=__version__, python=platform.python_version(), kopf=_version("kopf")).set(1)


def serve(port: int, host: str = "0.0.0.0") -> None:
    start_http_server(port, addr=host)
