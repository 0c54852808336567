"""What the operator has seen of a Runbook or ClusterRunbook: its status, and the PromQL clocks it keeps there."""

from __future__ import annotations

from pydantic import Field

from .common import Condition, Model, Time

#: At most this many series' PromQL ``for`` clocks are kept in a runbook's status (the earliest pending first).
PENDING_SERIES_MAX = 100


class PendingSeries(Model):
    """A PromQL series failing now, and since when: the ``for`` clock, kept so a restart or failover resumes it."""

    series: str = Field(
        max_length=300,
        description="The series' labels (name=value,... sorted), or sha256: and their digest when longer than 256.",
    )
    since: str = Field(max_length=40, description="When the operator first saw the series failing (RFC 3339).")
    fired_at: str | None = Field(
        default=None, max_length=40, description="When it had failed for the trigger's for and fired (RFC 3339)."
    )


class RunbookStatus(Model):
    """What the operator has seen of this runbook."""

    trigger_kind: str = Field(default="", description="The runbook's trigger kind, for printing.")
    fire_count: int = Field(default=0, ge=0, description="How many Remediations its trigger has started.")
    last_fired_at: Time | None = Field(default=None, description="When its trigger last started a Remediation.")
    last_error: str = Field(default="", description="The latest trigger evaluation error, empty when healthy.")
    observed_generation: int | None = Field(default=None, description="The generation the status reflects.")
    conditions: list[Condition] = Field(default_factory=list, description="Ready: the runbook is valid and armed.")
    pending_series: list[PendingSeries] = Field(
        default_factory=list,
        max_length=PENDING_SERIES_MAX,
        description="PromQL triggers: the failing series and since when, written only when one starts failing, "
        "fires or recovers; restored at start-up, so a restart does not reset a for clock.",
    )
