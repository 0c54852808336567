"""An Alertmanager silence held while a Remediation acts (``RunbookSpec.silence``) and its record in the
Remediation's status.

The silence is a lease: created with a short TTL when the Remediation starts acting, extended on each pass
while it runs, expired when it ends; an operator that dies leaves a silence that ends by itself within one
TTL. Nothing about it ever blocks the fix (``paramedic.escalation.silences``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from .common import Duration, Model, Text, Time

#: At most this many matchers in a silence (declared, plus the alert's labels, plus the namespace).
MAX_MATCHERS = 64


class SilenceMatcher(Model):
    """One Alertmanager matcher (API v2), e.g. ``{name: alertname, value: ProductionDown}``."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=317)] = Field(description="The label name.")
    value: Annotated[str, StringConstraints(max_length=1024)] = Field(description="The value (or RE2 pattern).")
    is_regex: bool = Field(default=False, description="value is an RE2 pattern matching the whole label value.")
    is_equal: bool = Field(default=True, description="false: the label must NOT match.")


class SilenceSpec(Model):
    """Silence the alerts this fix is about while it runs, so the same people are not paged for it again."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.fromTrigger) && self.fromTrigger)"
                    " || (has(self.matchers) && size(self.matchers) > 0)",
                    "message": "silence needs fromTrigger: true or at least one matcher",
                }
            ]
        }
    )

    from_trigger: bool = Field(
        default=False,
        description="Match the labels of the Alertmanager alert that started the Remediation (equality matchers). "
        "A Remediation not started by an alert gets only the declared matchers.",
    )
    matchers: list[SilenceMatcher] = Field(
        default_factory=list, max_length=32, description="Matchers of the silence, added to the alert's labels."
    )
    ttl: Duration = Field(
        default="5m",
        description="How long the silence lasts past its last extension (endsAt = now + ttl, at least 1s); "
        "extended while the Remediation runs, so an operator that dies leaves it for one ttl at most.",
    )
    max_duration: Duration = Field(
        default="1h", description="The silence never lasts longer than this from its creation, however long the fix."
    )
    comment: Text = Field(
        default="", description="Shown in Alertmanager with the silence (the Remediation's name is added)."
    )

    @model_validator(mode="after")
    def _something(self) -> SilenceSpec:
        if not self.from_trigger and not self.matchers:
            raise ValueError("silence needs fromTrigger: true or at least one matcher")
        return self


SilenceState = Literal["Pending", "Active", "Expired", "Skipped"]


class SilenceStatus(Model):
    """The silence held for this Remediation (written by the operator's silencer alone)."""

    state: SilenceState = Field(
        default="Pending",
        description="Pending: not created yet (see error); Active: held; Expired: ended (at the end, at "
        "maxDuration, or by its ttl); Skipped: no matcher to silence with.",
    )
    id: str | None = Field(default=None, max_length=64, description="The silence's id in Alertmanager.")
    matchers: list[str] = Field(
        default_factory=list, max_length=MAX_MATCHERS, description="Its matchers, as name=value, name=~re, name!=value."
    )
    started_at: Time | None = Field(default=None, description="When the silence was created (its startsAt).")
    ends_at: Time | None = Field(default=None, description="Its current endsAt: extended while the fix runs.")
    extensions: int = Field(default=0, ge=0, description="How often it was extended.")
    message: Text = Field(default="", description="What happened last, for humans.")
    error: Text = Field(default="", description="The last Alertmanager error; empty when the last call worked.")
