"""RateLimitPolicy and EscalationPolicy: the safety rules, declared in Git.

A RateLimitPolicy bounds how often automation acts and stops it entirely
during a storm or a freeze; an EscalationPolicy says which humans hear about
it, in which order, when automation is not enough.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from typing import Annotated, Literal

from cronsim import CronSim, CronSimError
from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from .common import BoundedTime, Condition, Duration, Label, Model, Name, OneOf, Text, Time, parse_duration

Scope = Literal["Runbook", "Target", "Namespace", "Cluster"]
Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
#: Bounds on tenant text: a template line, and any URL.
TEMPLATE_MAX = 1000
URL_MAX = 2048


class RateWindow(Model):
    """At most ``max`` actions per ``per``, counted per scope."""

    max: int = Field(ge=0, description="How many Remediations may act within the window.")
    per: Duration = Field(description="The sliding window, e.g. 10m or 1h.")
    scope: Scope = Field(
        default="Runbook",
        description="What the count is kept per: Runbook, Target, Namespace (of the target) or Cluster.",
    )


class InFlight(Model):
    """How many Remediations may be running at once: every running one in the scope counts, whichever policy
    admitted it, and so does a Remediation a person created (it is changing the same cluster)."""

    max: int = Field(
        ge=1,
        description="How many Remediations may be running at once in the scope, counting those admitted by any "
        "policy and those created by hand.",
    )
    scope: Literal["Runbook", "Namespace", "Cluster"] = Field(
        default="Cluster",
        description="What it counts per: the runbook, the target's namespace, or the whole cluster (across all "
        "policies).",
    )


#: The storm breaker's absolute default: more failures of one runbook than this within the window is a storm.
MAX_FAILING_DEFAULT = 10


class StormBreaker(Model):
    """Do not act when too much fails at once: that is an outage of something shared, not a pod to fix."""

    enabled: bool = Field(default=True, description="On by default; switching it off needs a reason in Git.")
    max_failing_percent: int = Field(
        default=50,
        ge=1,
        le=100,
        description="Trip when more than this share of the runbook's targets fail at once (compare Medik8s "
        "NodeHealthCheck's minHealthy 51%).",
    )
    max_failing: int = Field(
        default=MAX_FAILING_DEFAULT,
        ge=1,
        description="Also trip when more than this many of the runbook's Remediations were created within the "
        "window, whatever the number of targets (so a runbook with one or two targets can trip too).",
    )
    min_targets: int = Field(
        default=2,
        ge=1,
        description="Only judge by share when at least this many targets exist in scope (2: two targets failing "
        "together trip it).",
    )
    window: Duration = Field(
        default="5m", description="Failures whose Remediations were created within this window count together."
    )


def _zone(name: str) -> str:
    """An IANA time zone the operator knows (zoneinfo: the system's tz database, else the tzdata package)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)") from exc
    return name


#: The shape of an IANA zone name (Area/Location, UTC, Etc/GMT+5); the API server checks the shape, the
#: operator and ``paramedic lint`` check that the zone exists.
ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$"
Zone = Annotated[str, StringConstraints(max_length=64, pattern=ZONE_PATTERN), AfterValidator(_zone)]


def _cron(expression: str) -> str:
    """A cron expression cronsim reads (five fields: minute hour day-of-month month day-of-week)."""
    try:
        CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise ValueError(f"{expression!r} is not a cron expression ({exc}); e.g. '0 22 * * 5'") from exc
    return expression


#: Five space-separated fields of cron's characters (digits, names such as MON or JAN, * / , - L W #): the API
#: server checks the shape and the length, the operator and ``paramedic lint`` read the expression. Five fields
#: only: cron's handling of DST (below) applies to five-field expressions.
CRON_FIELD = r"[0-9A-Za-z*/,#-]{1,40}"
CRON_PATTERN = rf"^{CRON_FIELD}( {CRON_FIELD}){{4}}$"
Cron = Annotated[str, StringConstraints(max_length=100, pattern=CRON_PATTERN), AfterValidator(_cron)]


def _positive(text: str) -> str:
    if parse_duration(text).total_seconds() <= 0:
        raise ValueError("must be longer than 0s")
    return text


class FreezeWindow(Model):
    """A period without automatic actions: absolute (start/end), weekly (days, from/to, in timeZone) or
    recurring (cron, duration, in timeZone)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "((has(self.start) && has(self.end)) ? 1 : 0)"
                    " + ((has(self.days) && has(self.from) && has(self.to)) ? 1 : 0)"
                    " + ((has(self.cron) && has(self.duration)) ? 1 : 0) == 1",
                    "message": "a freeze window is either start+end or days+from+to or cron+duration",
                },
                {
                    "rule": "has(self.cron) == has(self.duration)",
                    "message": "cron and duration go together: each occurrence starts at a cron time and lasts "
                    "duration",
                    "fieldPath": ".duration",
                },
                {
                    "rule": "!has(self.duration) || duration(self.duration) > duration('0s')",
                    "message": "duration must be longer than 0s",
                    "fieldPath": ".duration",
                },
                {
                    # timestamp(): the API server types a date-time field as a timestamp already (the identity
                    # overload); the offline evaluator sees the string. Either way, offsets compare correctly.
                    "rule": "!has(self.start) || !has(self.end) || timestamp(self.end) > timestamp(self.start)",
                    "message": "end must be after start",
                    "fieldPath": ".end",
                },
                {
                    "rule": "!has(self.from) || !has(self.to) || self.from != self.to",
                    "message": "from and to must differ (to before from is a window across midnight)",
                    "fieldPath": ".to",
                },
                {
                    "rule": "!has(self.timeZone) || has(self.days) || has(self.cron)",
                    "message": "timeZone applies to weekly (days+from+to) and cron windows; start and end carry "
                    "their offset",
                    "fieldPath": ".timeZone",
                },
            ]
        }
    )

    name: Text = Field(default="", max_length=253, description="Shown in the reason, e.g. 'Black Friday'.")
    start: BoundedTime | None = Field(
        default=None, description="Absolute start (RFC 3339, any offset, e.g. 2026-11-27T00:00:00-05:00)."
    )
    end: BoundedTime | None = Field(default=None, description="Absolute end (RFC 3339, any offset), after start.")
    days: list[Weekday] | None = Field(
        default=None, max_length=7, description="Weekly: the days it starts on, in timeZone."
    )
    from_: str | None = Field(
        default=None,
        alias="from",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        max_length=5,
        description="Weekly: HH:MM wall-clock time in timeZone.",
    )
    to: str | None = Field(
        default=None,
        pattern=r"^([01][0-9]|2[0-4]):[0-5][0-9]$",
        max_length=5,
        description="Weekly: HH:MM wall-clock time in timeZone. Before from, the window runs across midnight into "
        "the next day (Fri 22:00 to 06:00 ends Saturday 06:00).",
    )
    time_zone: Zone | None = Field(
        default=None,
        description="Weekly and cron: the IANA time zone of days, from and to, or of the cron expression (e.g. "
        "Europe/Berlin; UTC when unset). Wall clock: across a DST change the window keeps its local hours.",
    )
    cron: Cron | None = Field(
        default=None,
        description="Recurring: when each occurrence starts, a five-field cron expression in timeZone (e.g. "
        "'0 22 * * 5', Fridays at 22:00). A start in the hour skipped by DST happens at the first minute after "
        "it; a start in the repeated hour happens once (as Debian cron does).",
    )
    duration: Annotated[Duration, AfterValidator(_positive)] | None = Field(
        default=None,
        description="Recurring: how long each occurrence lasts from its start (elapsed time, e.g. 60h). The window "
        "holds when some start is at or before now and now is before that start plus duration.",
    )


class RateLimitPolicySpec(Model):
    """How often automation may act, and when it must not act at all."""

    windows: list[RateWindow] = Field(
        default_factory=lambda: [RateWindow(max=10, per="1h", scope="Runbook")],
        max_length=8,
        description="Sliding windows; all of them must allow the action.",
    )
    cooldown: Duration = Field(default="5m", description="After a Remediation on a target ends, wait this long.")
    max_in_flight: InFlight | None = Field(
        default_factory=lambda: InFlight(max=5, scope="Cluster"), description="Concurrency bound."
    )
    storm_breaker: StormBreaker = Field(default_factory=StormBreaker, description="The storm breaker (on by default).")
    freeze_windows: list[FreezeWindow] = Field(
        default_factory=list, max_length=32, description="No automatic actions in these."
    )


class LedgerEntry(Model):
    remediation: str = Field(description="namespace/name of the Remediation that spent budget.")
    runbook: str = Field(description="Kind/namespace/name of its runbook.")
    target: str = Field(description="Kind/namespace/name of its target.")
    namespace: str = Field(description="The target's namespace (empty for nodes).")
    admitted_at: Time = Field(description="When it was let through (RFC 3339).")
    finished_at: Time | None = Field(default=None, description="When it ended, for cooldowns (RFC 3339).")


class RateLimitPolicyStatus(Model):
    ledger: list[LedgerEntry] = Field(
        default_factory=list,
        description="Remediations admitted recently. Kept in the cluster so an operator restart or failover never "
        "resets the budget; written with optimistic concurrency so two replicas cannot spend the same budget.",
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready: False (reason Invalid, the fields named) when the operator cannot read the policy. "
        "Frozen: True while a freeze window is in effect (reason FreezeWindow, the window named). StormActive: "
        "True while the storm breaker has refused a Remediation within its window (reason StormBreakerTripped, "
        "the count named). Absent means False; each is written only when it changes.",
    )


# -- escalation ------------------------------------------------------------------------------------


class SecretKeyRef(Model):
    name: Name = Field(description="Secret name, in the policy's namespace.")
    key: Name = Field(description="Key within the Secret.")


class Channel(OneOf):
    """Where to send: exactly one of webhook, slack, pagerduty."""

    one_of = ("webhook", "slack", "pagerduty")
    one_of_message = "a channel is exactly one of webhook, slack, pagerduty"

    name: Label = Field(description="Shown in status, e.g. primary-oncall.")
    webhook: SecretKeyRef | None = Field(default=None, description="Generic JSON POST; the URL is in the Secret.")
    slack: SecretKeyRef | None = Field(default=None, description="Slack incoming webhook; the URL is in the Secret.")
    pagerduty: SecretKeyRef | None = Field(
        default=None, description="PagerDuty Events API v2; the routing key is in the Secret."
    )
    url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="PagerDuty only: the Events API endpoint, if not the public one. In a tenant's namespace it must "
        "match the operator's --allowed-url-prefix list.",
    )


Severity = Literal["critical", "error", "warning", "info"]


class Level(Model):
    name: Label = Field(description="e.g. primary on-call, secondary on-call, platform lead, CTO.")
    after: Duration = Field(default="0s", description="Since the incident started.")
    severity: Severity = Field(
        default="critical",
        description="The severity this level's messages carry: PagerDuty's payload.severity (critical, error, "
        "warning, info; it decides how PagerDuty alerts) and the generic webhook's severity field.",
    )
    channels: list[Channel] = Field(min_length=1, max_length=10, description="Notified together.")


class Template(Model):
    """The incident message; {placeholders}: runbook, target, remediation, namespace, reason, phase, evidence
    (the key figures of the evidence found).

    Plain substitution only: no format specs, attribute or index access (anything else stays as written)."""

    incident: str = Field(default="{reason}", max_length=TEMPLATE_MAX, description="INCIDENT line.")
    impact: str = Field(
        default="Automatic remediation of {target} did not resolve it.",
        max_length=TEMPLATE_MAX,
        description="IMPACT line.",
    )
    services: str = Field(default="{target}", max_length=TEMPLATE_MAX, description="SERVICES line.")
    eta: str = Field(default="unknown - a human is needed", max_length=TEMPLATE_MAX, description="ETA line.")
    console_url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="Base URL for links, e.g. a Kubernetes dashboard; kubectl commands otherwise.",
    )


Trigger = Literal["StepsExhausted", "VerificationFailed", "StormBreaker", "RateLimited", "Frozen", "ApprovalTimeout"]


def _default_escalate_on() -> list[Trigger]:
    return ["StepsExhausted", "VerificationFailed", "StormBreaker", "Frozen", "ApprovalTimeout"]


class EscalationPolicySpec(Model):
    """Who hears about it, in which order, when automation is not enough."""

    levels: list[Level] = Field(min_length=1, max_length=10, description="In order of their delays.")
    repeat_interval: Duration = Field(default="30m", description="Re-send the current level this often while it lasts.")
    escalate_on: list[Trigger] = Field(
        default_factory=_default_escalate_on,
        max_length=16,
        description="Which outcomes page humans.",
    )
    approval_timeout: Duration = Field(
        default="15m", description="Escalate a Remediation awaiting approval for longer than this."
    )
    template: Template = Field(default_factory=Template, description="The incident message.")


class EscalationPolicyStatus(Model):
    """Where an escalation stands is recorded on each Remediation; the policy itself says whether the operator
    can read it and reach its channels."""

    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready: False (reason Invalid, the fields named) when the operator cannot read the policy; "
        "False (reason SecretMissing or SecretUnreadable, the channels named) when a channel's Secret or key is "
        "missing or the operator may not read it; True (reason Valid) when every channel's Secret key is there.",
    )
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation the operator last checked the policy at."
    )
