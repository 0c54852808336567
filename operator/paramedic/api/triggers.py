"""The trigger part of a runbook: which symptom starts it.

Exactly one trigger kind is set. Durations of Kubernetes-state triggers are
measured from the condition's own lastTransitionTime, so an operator restart
does not reset them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import Duration, Label, LabelKey, Model, Name, OneOf

#: Bounds on tenant text: a URL, a PromQL query, a label matcher's value or pattern.
URL_MAX = 2048
QUERY_MAX = 8192
PATTERN_MAX = 1024

TRIGGER_FIELDS = (
    "manual",
    "podCrashLoop",
    "podOOMKilled",
    "podPending",
    "nodeNotReady",
    "hpaAtMax",
    "prometheus",
    "alertmanager",
)


class Manual(Model):
    """Only Remediations created by people (or tools) start this runbook."""


class PodCrashLoop(Model):
    """A container is waiting to be restarted after crashing."""

    reasons: list[Label] = Field(
        max_length=16,
        default_factory=lambda: ["CrashLoopBackOff"],
        description="Container waiting reasons that count as a crash loop.",
    )
    min_restarts: int = Field(default=3, ge=0, description="Only once restartCount has reached this.")
    containers: list[Label] = Field(
        default_factory=list, max_length=32, description="Only these containers; empty means any."
    )


class PodOOMKilled(Model):
    """A container was OOM-killed (its last termination reason is OOMKilled)."""

    containers: list[Label] = Field(
        default_factory=list, max_length=32, description="Only these containers; empty means any."
    )
    within: Duration = Field(
        default="10m",
        description="Only kills that ended this recently count: an OOM kill from yesterday on a pod that is "
        "healthy now is history, not a trigger.",
    )


class PodPending(Model):
    """A pod could not be scheduled for a while."""

    for_: Duration = Field(default="5m", alias="for", description="How long PodScheduled has been False.")
    reasons: list[Label] = Field(
        max_length=16, default_factory=lambda: ["Unschedulable"], description="PodScheduled reasons that count."
    )


class NodeNotReady(Model):
    """A node's Ready condition has been False or Unknown for a while."""

    for_: Duration = Field(default="5m", alias="for", description="How long Ready has not been True.")


class HPAAtMax(Model):
    """An HPA has been held at its maximum for a while: at maxReplicas, or ScalingLimited because it wants more
    replicas (TooManyReplicas). Held at its minimum (TooFewReplicas) does not count."""

    for_: Duration = Field(default="10m", alias="for", description="How long it has been at its maximum.")


class TargetLabels(Model):
    """Which series or alert labels name the target."""

    kind: Literal["Deployment", "StatefulSet", "DaemonSet", "Pod", "Node"] = Field(
        default="Deployment", description="Kind of the target the labels name."
    )
    name: LabelKey = Field(default="deployment", description="Label holding the target's name.")
    namespace: LabelKey = Field(default="namespace", description="Label holding the target's namespace (not for Node).")


class TokenRef(Model):
    name: Name = Field(description="Secret name.")
    key: Name = Field(default="token", description="Key within the Secret.")


class Prometheus(Model):
    """A PromQL condition, evaluated periodically; each result series is one target."""

    url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="Prometheus base URL; defaults to the operator's setting. In a Runbook (not a ClusterRunbook) it "
        "must match the operator's --allowed-url-prefix list.",
    )
    query: str = Field(
        min_length=1, max_length=QUERY_MAX, description="PromQL expression; every series it returns is failing."
    )
    for_: Duration = Field(default="1m", alias="for", description="A series must keep failing this long.")
    interval: Duration = Field(default="30s", description="How often the query is evaluated.")
    timeout: Duration | None = Field(
        default=None,
        description="How long one query may take (the client gives up and Prometheus is asked to stop); the "
        "operator's --outbound-timeout when unset, and never longer than it.",
    )
    bearer_token: TokenRef | None = Field(
        default=None,
        description="A Secret whose key holds a bearer token sent as 'Authorization: Bearer' with each query: in "
        "the runbook's namespace (a ClusterRunbook's: the operator's). The Secret must carry the label "
        "paramedic.dev/prometheus-token=true, so a runbook cannot send out a Secret meant for something else.",
    )
    target_labels: TargetLabels = Field(default_factory=TargetLabels, description="How a series names its target.")


class LabelMatcher(Model):
    name: str = Field(max_length=256, description="Label name.")
    value: str = Field(
        max_length=PATTERN_MAX,
        description="Value, or regular expression when isRegex: RE2 syntax (as Alertmanager), matching the whole "
        "value.",
    )
    is_regex: bool = Field(default=False, description="Match value as a regular expression.")
    is_equal: bool = Field(default=True, description="False negates the match.")


class Alertmanager(Model):
    """Firing alerts delivered to the operator's webhook (resolved alerts never trigger)."""

    alertnames: list[Name] = Field(min_length=1, max_length=32, description="Alert names that start this runbook.")
    matchers: list[LabelMatcher] = Field(
        default_factory=list, max_length=32, description="Further label matchers, all required."
    )
    target_labels: TargetLabels = Field(default_factory=TargetLabels, description="How an alert names its target.")


class Trigger(OneOf):
    """Exactly one of these is set."""

    one_of = TRIGGER_FIELDS
    one_of_message = "trigger sets exactly one of: " + ", ".join(TRIGGER_FIELDS)

    manual: Manual | None = Field(default=None, description="Started only by Remediations created by hand.")
    pod_crash_loop: PodCrashLoop | None = Field(default=None, description="A container crash-loops.")
    pod_oom_killed: PodOOMKilled | None = Field(
        default=None, alias="podOOMKilled", description="A container is OOM-killed."
    )
    pod_pending: PodPending | None = Field(default=None, description="A pod stays unschedulable.")
    node_not_ready: NodeNotReady | None = Field(default=None, description="A node stays NotReady.")
    hpa_at_max: HPAAtMax | None = Field(default=None, description="An HPA stays at its maximum.")
    prometheus: Prometheus | None = Field(default=None, description="A PromQL condition holds.")
    alertmanager: Alertmanager | None = Field(default=None, description="Alertmanager sends a firing alert.")

    @property
    def kind(self) -> str:
        return next((f for f in TRIGGER_FIELDS if self.by_alias(f) is not None), "manual")
