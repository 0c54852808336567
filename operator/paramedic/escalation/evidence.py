"""What the evidence collectors found, as pages carry it. Pure logic.

The records come from the Remediation's ``status.evidence`` (newest last;
the collectors cap and redact them before they are stored, so only stored,
redacted text is ever shown). A page carries the latest record of each
collector, at most ``RECORDS`` of them, each cut to fixed sizes whatever was
stored: the figures (``values``), the outcome and error, and an excerpt. The
same compact records go into the webhook's JSON, PagerDuty's
``custom_details``, Slack's blocks and the incident text (and its
``{evidence}`` template variable), and ``paramedic history NAME`` prints them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from paramedic.api.evidence import latest as latest_records

#: Collectors shown in one page (the latest record of each, newest last).
RECORDS = 10
#: Figures per record, and characters of a figure's name and string value.
VALUES = 16
VALUE_TEXT = 200
#: Characters of an excerpt and of an error in a page.
EXCERPT = 1500
ERROR = 300


#: The figures of each kind, in the order the evidence contract lists them (the API server stores a map's
#: keys sorted): shown first, in this order, then any others.
ORDER = {
    "logs": ("lines", "matches", "bytes", "truncated"),
    "events": ("count", "warnings", "latestReason"),
    "summary": ("restarts", "ready", "lastExitCode", "lastReason", "oomKilled", "nodeReady"),
    "promql": ("value", "samples"),
    "http": ("statusCode", "latencyMs", "ok"),
    "aws": ("status", "multiAZ", "pendingMaintenance", "members"),
}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def latest(status: Mapping[str, Any], limit: int = RECORDS) -> list[dict[str, Any]]:
    """The latest record of each collector (in the order of those records), compact and bounded."""
    return [compact(r) for r in list(latest_records(status.get("evidence") or []).values())[-limit:]]


def compact(record: Mapping[str, Any]) -> dict[str, Any]:
    """One record cut to the page's sizes: name, kind, outcome, after, collectedAt, values, error, excerpt."""
    values = record.get("values")
    values = values if isinstance(values, Mapping) else {}
    figures: dict[str, Any] = {}
    known = ORDER.get(str(record.get("kind")), ())
    keys = [k for k in known if k in values] + sorted((k for k in values if k not in known), key=str)
    for key in keys[:VALUES]:
        value = values[key]
        if isinstance(value, bool | int | float):
            figures[str(key)[:64]] = value
        else:
            figures[str(key)[:64]] = _cut(str(value), VALUE_TEXT)
    out: dict[str, Any] = {
        "name": str(record.get("name", ""))[:63],
        "kind": str(record.get("kind", ""))[:16],
        "outcome": str(record.get("outcome", ""))[:16],
        "values": figures,
    }
    for key in ("after", "collectedAt", "detail"):
        if record.get(key) is not None:
            out[key] = record[key] if isinstance(record[key], int) else str(record[key])[:300]
    if record.get("error"):
        out["error"] = _cut(str(record["error"]), ERROR)
    if record.get("excerpt"):
        out["excerpt"] = _cut(str(record["excerpt"]), EXCERPT)
    return out


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def figures(record: Mapping[str, Any]) -> str:
    """One line: ``name (kind, outcome): key=value ...`` (and the error, when it failed)."""
    shown = " ".join(f"{k}={_show(v)}" for k, v in (record.get("values") or {}).items())
    when = "" if record.get("after") is None else f", after step {int(record['after']) + 1}"
    line = f"{record['name']} ({record['kind']}, {record['outcome']}{when})"
    line += f": {shown}" if shown else ""
    return line + (f" error: {record['error']}" if record.get("error") else "")


def lines(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The records as text: each record's figures, then its excerpt indented."""
    out: list[str] = []
    for record in records:
        out.append(figures(record))
        out += [f"    {line}" for line in str(record.get("excerpt") or "").splitlines()]
    return out


def summary(records: Sequence[Mapping[str, Any]], limit: int = 512) -> str:
    """The figures of every record on one line (the ``{evidence}`` template variable)."""
    return _cut("; ".join(figures(r) for r in records), limit)


#: Slack's limits: a section's text and a header's text, in characters; blocks in one message.
SLACK_SECTION = 3000
SLACK_HEADER = 150
SLACK_BLOCKS = 50


def slack_escape(text: str) -> str:
    """Slack's three control characters escaped (so a log line cannot mention @channel or forge a link)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_blocks(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Two blocks per record: its figures, and its excerpt as preformatted text; within Slack's limits."""
    blocks: list[dict[str, Any]] = []
    for record in records:
        line = _cut(slack_escape(figures(record)).replace("*", ""), SLACK_SECTION - 2)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{line}*"}})
        if record.get("excerpt"):
            fenced = _cut(slack_escape(str(record["excerpt"])).replace("`" * 3, "`\u200b``"), SLACK_SECTION - 8)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```\n{fenced}\n```"}})
    return blocks
