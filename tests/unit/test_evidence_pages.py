"""The evidence in every page (escalation.evidence, render, channels): what each format carries and the bounds
it keeps whatever was stored. Pure, without a cluster."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from paramedic.api.policies import Channel, Template
from paramedic.escalation import channels, evidence, render

HOOK = Channel.model_validate({"name": "h", "webhook": {"name": "k", "key": "v"}})
SLACK = Channel.model_validate({"name": "s", "slack": {"name": "k", "key": "v"}})
PD = Channel.model_validate({"name": "pd", "pagerduty": {"name": "k", "key": "v"}})


def remediation(records: list[Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "r", "namespace": "shop"},
        "spec": {"runbookRef": {"name": "db"}, "target": {"kind": "Deployment", "name": "api"}},
        "status": {
            "phase": "Failed",
            "message": "step 1 failed",
            "targetSummary": "Deployment/shop/api",
            "evidence": records,
        },
    }


def page(records: list[Any], template: Template | None = None) -> render.Incident:
    return render.incident(
        template or Template(), remediation(records), "StepsExhausted", "2026-11-25T10:00:00Z", False
    )


LOGS = {
    "name": "apiLogs",
    "kind": "logs",
    "outcome": "Collected",
    "after": 0,
    "values": {"lines": 2, "matches": 1, "bytes": 80, "truncated": False},
    "excerpt": "ERROR connection refused\nINFO retrying",
}


def test_each_format_carries_the_figures_and_the_excerpt() -> None:
    incident = page([LOGS])
    assert "EVIDENCE:" in incident.text
    assert "apiLogs (logs, Collected, after step 1): lines=2 matches=1 bytes=80 truncated=false" in incident.text
    assert "    ERROR connection refused" in incident.text
    _, hook = channels.request(HOOK, "http://x", incident, "uid", "l")
    assert hook["evidence"][0]["excerpt"] == LOGS["excerpt"]
    _, pd = channels.request(PD, "KEY", incident, "uid", "l")
    assert pd["payload"]["custom_details"]["evidence"]["apiLogs"]["values"]["matches"] == 1
    _, slack = channels.request(SLACK, "http://x", incident, "uid", "l")
    assert slack["text"].startswith("*[ESCALATED (StepsExhausted)]")
    assert slack["blocks"][0]["type"] == "header"
    assert {"type": "mrkdwn", "text": "```\nERROR connection refused\nINFO retrying\n```"} in [
        b.get("text") for b in slack["blocks"]
    ]


def test_the_latest_record_of_each_collector_is_shown() -> None:
    later = {**LOGS, "values": {"lines": 5, "matches": 0}, "excerpt": "INFO fine", "after": 1}
    (shown,) = evidence.latest({"evidence": [LOGS, later]})
    assert shown["excerpt"] == "INFO fine"


def test_the_evidence_template_variable_is_the_figures() -> None:
    incident = page([LOGS], Template(impact="seen: {evidence}"))
    assert incident.fields["IMPACT"].startswith("seen: apiLogs (logs, Collected, after step 1): lines=2 matches=1")


def test_log_text_cannot_mention_a_slack_channel() -> None:
    noisy = {**LOGS, "excerpt": "<!channel> <https://evil.example|click> & more ```"}
    _, slack = channels.request(SLACK, "http://x", page([noisy]), "uid", "l")
    texts = json.dumps(slack["blocks"])
    assert "<!channel>" not in texts
    assert "&lt;!channel&gt;" in texts


text = st.text(max_size=5000)
records = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.text(max_size=300),
            "kind": st.sampled_from(["logs", "events", "summary", "promql", "http", "aws"]),
            "outcome": st.sampled_from(["Collected", "Failed", "TimedOut"]),
            "values": st.dictionaries(st.text(max_size=100), st.one_of(st.integers(), st.floats(), text), max_size=40),
            "excerpt": text,
            "error": text,
        }
    ),
    max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(records)
def test_pages_stay_bounded_whatever_was_stored(stored: list[dict[str, Any]]) -> None:
    incident = page(stored)
    assert len(incident.evidence) <= evidence.RECORDS
    _, slack = channels.request(SLACK, "http://x", incident, "uid", "l")
    assert len(slack["blocks"]) <= evidence.SLACK_BLOCKS
    for block in slack["blocks"]:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= evidence.SLACK_HEADER
        for item in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if item is not None:
                assert len(item["text"]) <= evidence.SLACK_SECTION
    _, pd = channels.request(PD, "KEY", incident, "uid", "l")
    assert len(json.dumps(pd)) < 512 * 1024  # PagerDuty's limit on an event
    _, hook = channels.request(HOOK, "http://x", incident, "uid", "l")
    assert len(json.dumps(hook["evidence"])) < 64 * 1024
