"""Evidence: what a runbook looks at before it acts (and after a step), and how it is recorded.

A runbook declares named collectors (``spec.evidence``); the engine gathers
them all before the first action and, after a step, those the step lists in
``collect``. Each gathering adds one ``EvidenceRecord`` per collector to the
Remediation's ``status.evidence``: the key figures (``values``, fixed names
per kind, which step ``when:`` conditions read), a short redacted excerpt,
and where the fuller text is kept (a ConfigMap owned by the Remediation).

Collectors that read beyond the runbook's own namespace (PromQL on the
operator's Prometheus, AWS) exist only on ClusterRunbooks, like the cloud
actions: a tenant cannot make the operator read for it what it could not
read itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, WithJsonSchema
from pydantic.config import JsonDict

from .common import LIST_MAP_KEYS, Duration, Label, Model, Name, OneOf, Time

#: A collector's name: a CEL identifier, so ``evidence.<name>`` reads in a step's ``when:``.
CollectorName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-zA-Z0-9]{0,62}$", max_length=63)]
#: Collectors a runbook may declare.
MAX_COLLECTORS = 10
#: Lines of a container's log read at most per pod (kubectl logs --tail).
MAX_TAIL_LINES = 1000
#: Records kept in a Remediation's status (a gathering before the first step and after each of 20 steps).
MAX_RECORDS = 210
#: Bytes of a record's inline excerpt (the fuller text goes to the ConfigMap).
EXCERPT_BYTES = 1024
#: Key figures per record, and the length of a string figure.
MAX_VALUES = 8
VALUE_CHARS = 256

Kind = Literal["logs", "events", "summary", "promql", "http", "aws"]
Outcome = Literal["Collected", "Failed", "TimedOut"]


class LogsCollector(Model):
    """The target's pods' container logs (kubectl logs --tail), filtered and counted."""

    container: Label | None = Field(default=None, description="The container; default: the pod's first.")
    previous: bool = Field(
        default=False, description="The previous (crashed) container's logs (kubectl logs --previous)."
    )
    tail_lines: int = Field(default=100, ge=1, le=MAX_TAIL_LINES, description="Lines read per pod, the latest.")
    filter: str | None = Field(
        default=None,
        max_length=256,
        description="A regular expression (RE2 syntax: linear time, no backreferences): only matching lines are "
        "kept, and values.matches counts them. Case-sensitive unless it starts with (?i).",
    )
    max_bytes: int = Field(
        default=65536,
        ge=256,
        le=1048576,
        description="Bytes of log text kept at most (after redaction, the latest lines); the operator's "
        "per-item cap (--evidence-item-bytes) applies if lower.",
    )


class EventsCollector(Model):
    """The Events of the target and of its pods (reason, message, count, last seen), newest last."""


class SummaryCollector(Model):
    """The target's pods as kubectl describe shows them: conditions, container states, restart counts, last
    termination reasons and exit codes, requests and limits, and their node's conditions and allocatable."""


class PromqlCollector(Model):
    """A PromQL query: its value now, or over a short range."""

    url: Annotated[str, StringConstraints(max_length=2048)] | None = Field(
        default=None,
        description="The Prometheus to ask (an admin's: ClusterRunbook only); default: the operator's "
        "--prometheus-url. Link-local and cloud metadata addresses are refused.",
    )
    query: str = Field(min_length=1, max_length=2048, description="The PromQL expression.")
    range: Duration | None = Field(
        default=None, description="Read this long a range ending now (query_range) instead of the instant value."
    )
    step: Duration | None = Field(default=None, description="The range's resolution; default: range / 30.")


class HttpCollector(Model):
    """GET a path of a Service (a health endpoint): status code, latency, and the start of the body."""

    service: Name = Field(description="The Service's name, in the runbook's namespace (a Runbook) or in namespace.")
    port: int = Field(ge=1, le=65535, description="The Service's port.")
    path: Annotated[str, StringConstraints(pattern=r"^/", max_length=1024)] = Field(
        default="/", description="The path (and query) to GET."
    )


class ClusterHttpCollector(HttpCollector):
    namespace: Label | None = Field(
        default=None, description="The Service's namespace; default: the target's (ClusterRunbook only)."
    )


class AwsCollector(OneOf):
    """Describe an AWS resource through boto3 (the operator's credentials)."""

    rds_instance: Name | None = Field(
        default=None,
        description="An RDS DB instance identifier: its status, Multi-AZ, pending maintenance and recent events.",
    )
    elasticache_replication_group: Name | None = Field(
        default=None, description="An ElastiCache replication group id: its status and member clusters."
    )


AwsCollector.one_of = ("rdsInstance", "elasticacheReplicationGroup")
AwsCollector.one_of_message = "aws names exactly one of rdsInstance, elasticacheReplicationGroup"


class Collector(OneOf):
    """One named piece of evidence: exactly one of the kinds is set."""

    model_config = ConfigDict(json_schema_extra={LIST_MAP_KEYS: ["name"]})

    name: CollectorName = Field(
        description="Its name, unique in the runbook, as steps' collect and when: conditions (evidence.<name>) "
        "refer to it."
    )
    timeout: Duration = Field(
        default="10s",
        description="Give up after this; the record says TimedOut and the remediation goes on without it.",
    )
    logs: LogsCollector | None = Field(default=None, description="Container logs of the target's pods.")
    events: EventsCollector | None = Field(default=None, description="Events of the target and its pods.")
    summary: SummaryCollector | None = Field(default=None, description="The state of the target's pods and their node.")
    http: HttpCollector | None = Field(default=None, description="GET a Service's path in the runbook's namespace.")

    @property
    def kind(self) -> str:
        return self.chosen()[0]

    @property
    def params(self) -> Model:
        value = self.by_alias(self.kind)
        assert isinstance(value, Model)
        return value


Collector.one_of = ("logs", "events", "summary", "http")
Collector.one_of_message = "a collector sets exactly one of logs, events, summary, http"


class ClusterCollector(Collector):
    """A ClusterRunbook's collector: it may also query Prometheus, describe AWS, and reach other namespaces."""

    http: ClusterHttpCollector | None = Field(
        default=None, description="GET a Service's path (in namespace, default the target's)."
    )
    promql: PromqlCollector | None = Field(default=None, description="A PromQL query (ClusterRunbook only).")
    aws: AwsCollector | None = Field(default=None, description="Describe an AWS resource (ClusterRunbook only).")


ClusterCollector.one_of = ("logs", "events", "summary", "http", "promql", "aws")
ClusterCollector.one_of_message = "a collector sets exactly one of logs, events, summary, http, promql, aws"


def _unique(collectors: list[Any]) -> list[Any]:
    names = [c.name for c in collectors]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"collector names must be unique: {', '.join(twice)}")
    return collectors


Collectors = Annotated[list[Collector], AfterValidator(_unique)]
ClusterCollectors = Annotated[list[ClusterCollector], AfterValidator(_unique)]

#: The runbook-level CEL rule: a step's collect names declared collectors (the CRD's and ``paramedic lint``'s).
COLLECT_RULE: JsonDict = {
    "rule": "self.steps.all(s, !has(s.collect) || s.collect.all(n, "
    "has(self.evidence) && self.evidence.exists(e, e.name == n)))",
    "message": "a step's collect names collectors declared in spec.evidence",
    "fieldPath": ".steps",
}

#: A key figure: a number, a bool or a short string. The CRD cannot say "one of these scalars" structurally,
#: so the schema keeps any value (the operator alone writes status; the model bounds it).
Value = Annotated[
    Annotated[str, StringConstraints(max_length=VALUE_CHARS)] | bool | int | float,
    WithJsonSchema({"x-kubernetes-preserve-unknown-fields": True, "description": "A number, a bool or a string."}),
]


class EvidenceRecord(Model):
    """One collector's result in one gathering."""

    name: str = Field(max_length=63, description="The collector's name.")
    kind: Kind = Field(description="logs, events, summary, promql, http or aws.")
    collected_at: Time = Field(description="When it was gathered (RFC 3339).")
    after: int | None = Field(
        default=None, ge=0, description="The index of the step after which it was gathered; absent: before the first."
    )
    outcome: Outcome = Field(description="Collected, Failed or TimedOut.")
    error: str = Field(default="", max_length=1024, description="Why it failed or timed out.")
    # Keys unbounded in the schema: a CEL key-length rule cannot be typed over schemaless values (the names are
    # the operator's own, fixed per kind).
    values: dict[str, Value] = Field(
        default_factory=dict,
        max_length=MAX_VALUES,
        description="The key figures, by a fixed name per kind (logs: lines, matches, bytes, truncated; events: "
        "count, warnings, latestReason; summary: restarts, ready, lastExitCode, lastReason, oomKilled, nodeReady; "
        "promql: value, samples; http: statusCode, latencyMs, ok; aws: status, multiAZ, pendingMaintenance, "
        "members).",
    )
    excerpt: str = Field(
        default="", max_length=EXCERPT_BYTES, description="The start of what was found, redacted (log lines, events)."
    )
    detail: str | None = Field(
        default=None,
        max_length=512,
        description="Where the fuller text is kept (redacted, capped): configmap-name/key in the Remediation's "
        "namespace, owned by the Remediation.",
    )


def latest(records: Iterable[Any]) -> dict[str, Mapping[str, Any]]:
    """The latest record of each collector, by name, from ``status.evidence`` as written on the wire (newest
    last), in the order of those latest records. What a step's when: reads and what a page shows."""
    newest: dict[str, Mapping[str, Any]] = {}
    for record in records:
        if isinstance(record, Mapping) and isinstance(record.get("name"), str):
            newest.pop(record["name"], None)  # re-inserted: the order is that of the latest records
            newest[record["name"]] = record
    return newest
