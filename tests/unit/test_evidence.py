"""Evidence (issue 16): redaction, caps, the pure shaping of each collector's answer, and when the engine
gathers. Plain logic; the collectors' I/O is tested on the control plane (tests/cluster/test_evidence.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from paramedic.api.evidence import EvidenceRecord, LogsCollector
from paramedic.api.remediation import RemediationStatus, StepRecord
from paramedic.api.runbook import ClusterRunbookSpec, RunbookSpec
from paramedic.engine import gathering
from paramedic.engine.transitions import Pass
from paramedic.evidence import gather
from paramedic.evidence.kube import Unavailable, filter_lines, shape_logs, summarize
from paramedic.evidence.redact import MASK, Redactor, clip
from paramedic.evidence.remote import shape_promql

REDACT = Redactor()
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

# -- redaction ----------------------------------------------------------------------------------

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx1\nabcdef\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("db password=hunter2 ok", "hunter2"),
        ('{"api_key": "k-123456789"}', "k-123456789"),
        ("DB_PASSWORD: s3cr3t", "s3cr3t"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("curl -H 'authorization: Basic dXNlcjpwYXNz'", "dXNlcjpwYXNz"),
        ("token=ghp_abcdefghijklmnopqrstuvwxyz0123", "ghp_abcdefghijklmnopqrstuvwxyz0123"),
        ("connecting to postgres://app:pa55word@db:5432/orders", "pa55word"),
        ("key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        (f"loaded key\n{PEM}\ndone", "MIIEowIBAAKCAQEAx1"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "dozjgNryP4J3jVmNHl0w5N"),
    ],
)
def test_default_rules_redact_common_secrets(text: str, secret: str) -> None:
    out = REDACT(text)
    assert secret not in out
    assert "REDACTED" in out


def test_redaction_keeps_the_key_and_the_rest_of_the_line() -> None:
    assert REDACT("ERROR connect failed password=hunter2 host=db") == f"ERROR connect failed password={MASK} host=db"


def test_extra_patterns_of_the_operator_are_redacted_too() -> None:
    assert REDACT("customer 4111-1111-1111-1111") == "customer 4111-1111-1111-1111"
    assert Redactor([r"\b\d{4}-\d{4}-\d{4}-\d{4}\b"])("customer 4111-1111-1111-1111") == f"customer {MASK}"


_TOKEN = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=12, max_size=40)
_PLANTS = st.sampled_from(
    [
        "password={}",
        "Authorization: Bearer {}",
        '"client_secret": "{}"',
        "postgres://user:{}@db/x",
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
        "API_KEY={}",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=300),
    _PLANTS,
    _TOKEN,
    st.text(max_size=300),
    st.sampled_from([" ", "\n", "\t"]),
    st.integers(0, 2000),
)
def test_output_never_exceeds_the_cap_nor_shows_a_planted_secret(
    before: str, plant: str, secret: str, after: str, sep: str, cap: int
) -> None:
    assume(secret not in before and secret not in after)
    text = before + sep + plant.format(secret) + sep + after
    for keep in ("head", "tail"):
        out, _ = clip(REDACT(text), cap, keep=keep)
        assert len(out.encode()) <= cap
        assert secret not in out


@given(st.text(max_size=500), st.integers(0, 600))
def test_clip_keeps_the_end_or_the_start_within_the_cap(text: str, cap: int) -> None:
    tail, cut = clip(text, cap)
    head, _ = clip(text, cap, keep="head")
    assert len(tail.encode()) <= cap
    assert len(head.encode()) <= cap
    assert cut == (len(text.encode()) > cap)
    if not cut:
        assert tail == head == text
    else:
        assert text.endswith(tail)
        assert text.startswith(head)


# -- logs ---------------------------------------------------------------------------------------


def test_logs_are_tailed_filtered_counted_and_redacted() -> None:
    text = "\n".join(f"line {i} {'database error' if i % 10 == 0 else 'ok'} password=p{i}" for i in range(200))
    found = shape_logs(LogsCollector(tail_lines=50, filter="(?i)DATABASE"), 65536, REDACT, [("pod/app", text)])
    assert found.values == {"lines": 50, "matches": 5, "bytes": len(found.text.encode()), "truncated": False}
    assert found.text.splitlines()[0].startswith("line 150 database error")
    assert "password=p" not in found.text


def test_ten_megabytes_of_logs_yield_at_most_the_cap() -> None:
    line = "x" * 100 + " token=abcdefghijklmnop\n"
    text = line * (10 * 1024 * 1024 // len(line))
    found = shape_logs(LogsCollector(tail_lines=1000, max_bytes=1048576), 4096, REDACT, [("pod/app", text)])
    assert found.values["bytes"] == len(found.text.encode()) <= 4096
    assert found.values["truncated"] is True
    assert "abcdefghijklmnop" not in found.text


@pytest.mark.timeout(10)
def test_a_catastrophic_filter_runs_in_linear_time() -> None:
    """``(a+)+$`` backtracks exponentially in Python's re; RE2 answers at once."""
    kept, matches = filter_lines("(a+)+$", ["a" * 5000 + "!"] * 20)
    assert (kept, matches) == ([], 0)


def test_an_invalid_filter_is_unavailable_not_a_crash() -> None:
    with pytest.raises(Unavailable, match="not a valid RE2"):
        filter_lines("(unclosed", ["x"])
    with pytest.raises(Unavailable):
        filter_lines(r"(\w)\1", ["aa"])  # backreferences: not RE2


# -- summary and PromQL -------------------------------------------------------------------------


def _pod(restarts: int, reason: str, code: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-1"},
        "spec": {"nodeName": "n1", "containers": [{"name": "app", "resources": {"limits": {"memory": "64Mi"}}}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {
                    "name": "app",
                    "restartCount": restarts,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": code, "reason": reason}},
                }
            ],
        },
    }


def test_summary_of_an_oom_killed_pod_and_its_node() -> None:
    node = {"metadata": {"name": "n1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    found = summarize(None, [_pod(5, "OOMKilled", 137)], node)
    assert found.values == {
        "restarts": 5,
        "ready": False,
        "oomKilled": True,
        "lastExitCode": 137,
        "lastReason": "OOMKilled",
        "nodeReady": True,
    }
    assert "CrashLoopBackOff" in found.text
    assert "limits {'memory': '64Mi'}" in found.text


def test_promql_answers_give_the_value_and_the_samples() -> None:
    vector = {"resultType": "vector", "result": [{"metric": {"a": "b"}, "value": [1, "0.25"]}]}
    assert shape_promql(vector).values == {"value": 0.25, "samples": 1}
    matrix = {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "1"], [2, "3"]]}]}
    assert shape_promql(matrix).values == {"value": 3.0, "samples": 2}
    assert shape_promql({"resultType": "vector", "result": []}).values == {"samples": 0}
    assert shape_promql({"resultType": "scalar", "result": [1, "7"]}).values == {"value": 7.0, "samples": 1}


def test_errors_for_the_status_are_redacted_and_bounded() -> None:
    text = gather.describe(ValueError("failed with password=hunter2 " + "x" * 5000), REDACT)
    assert "hunter2" not in text
    assert len(text.encode()) <= 1000


# -- the model ----------------------------------------------------------------------------------

STEP = {"rolloutRestart": {}}


def test_collector_names_are_unique_and_cel_identifiers() -> None:
    with pytest.raises(ValidationError, match="unique"):
        RunbookSpec.model_validate({"evidence": [{"name": "a", "events": {}}] * 2, "steps": [STEP]})
    with pytest.raises(ValidationError):
        RunbookSpec.model_validate({"evidence": [{"name": "router-logs", "events": {}}], "steps": [STEP]})


def test_promql_aws_and_other_namespaces_are_for_cluster_runbooks_only() -> None:
    for collector in (
        {"promql": {"query": "up"}},
        {"aws": {"rdsInstance": "db"}},
        {"http": {"service": "s", "port": 80, "namespace": "other"}},
    ):
        spec = {"evidence": [{"name": "a", **collector}], "steps": [STEP]}
        with pytest.raises(ValidationError):
            RunbookSpec.model_validate(spec)
        ClusterRunbookSpec.model_validate(spec)


# -- when the engine gathers --------------------------------------------------------------------

RUNBOOK = RunbookSpec.model_validate(
    {
        "evidence": [{"name": "logs", "logs": {}}, {"name": "state", "summary": {}}],
        "steps": [{**STEP, "collect": ["state"]}, STEP],
    }
)


def _record(after: int | None, name: str = "state") -> EvidenceRecord:
    return EvidenceRecord(name=name, kind="summary", collected_at=NOW, after=after, outcome="Collected")


def _step(index: int, phase: str) -> StepRecord:
    return StepRecord(index=index, action="rolloutRestart", phase=phase, started_at=NOW)  # type: ignore[arg-type]


def test_everything_is_gathered_once_before_the_first_step() -> None:
    running = RemediationStatus(phase="Running", started_at=NOW)
    assert gathering.owed(RUNBOOK, running) == gathering.Gather(("logs", "state"), None)
    done = running.model_copy(update={"evidence": [_record(None, "logs"), _record(None)]})
    assert gathering.owed(RUNBOOK, done) is None
    assert gathering.owed(RUNBOOK, RemediationStatus(phase="AwaitingApproval", started_at=NOW)) is None
    assert gathering.owed(RunbookSpec.model_validate({"steps": [STEP]}), running) is None


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_a_step_that_collects_holds_until_its_gathering_is_recorded(phase: str) -> None:
    status = RemediationStatus(phase="Verifying", started_at=NOW, evidence=[_record(None)], steps=[_step(0, phase)])
    rem = {"metadata": {"name": "r", "namespace": "n", "generation": 1}, "spec": {}}
    p = Pass.of(status, rem)
    held = p.advance(RUNBOOK, p.record(status.steps[0]), NOW)
    assert held.status is not None
    assert (held.status.current_step, held.status.phase) == (0, "Running")
    assert gathering.owed(RUNBOOK, held.status) == gathering.Gather(("state",), 0)
    gathered = gathering.recorded(rem, held.status, gathering.Gather(("state",), 0), [_record(0)], NOW)
    assert gathered.status is not None
    assert gathering.owed(RUNBOOK, gathered.status) is None  # restart-safe: recorded, never gathered again
    p = Pass.of(gathered.status, rem)
    moved = p.advance(RUNBOOK, p.record(gathered.status.steps[0]), NOW)
    assert moved.status is not None
    if phase == "Succeeded":
        assert (moved.status.current_step, moved.status.phase) == (1, "Running")
    else:  # AllInOrder: the failure ends it, once the evidence after it is recorded
        assert moved.ended == ("Failed", "StepFailed")


def test_a_step_without_collect_moves_on_at_once() -> None:
    status = RemediationStatus(
        phase="Running", started_at=NOW, evidence=[_record(None)], current_step=1, steps=[_step(0, "Succeeded")]
    )
    status.evidence.append(_record(0))
    status.steps.append(_step(1, "Succeeded"))
    rem = {"metadata": {"name": "r", "namespace": "n", "generation": 1}, "spec": {}}
    p = Pass.of(status, rem)
    assert p.advance(RUNBOOK, p.record(status.steps[1]), NOW).ended == ("Succeeded", "Succeeded")


@given(
    st.dictionaries(st.text(max_size=8), st.text(max_size=300), max_size=5),
    st.lists(st.tuples(st.text(max_size=8), st.sampled_from(["head", "tail"]), st.text(max_size=3000)), max_size=8),
    st.integers(1, 2000),
    st.integers(0, 5000),
)
def test_a_remediations_configmap_stays_within_the_caps(
    existing: dict[str, str], texts: list[tuple[str, str, str]], item: int, total: int
) -> None:
    data = gather.allot(existing, texts, item, total)
    assert all(len(text.encode()) <= item for text in data.values())
    kept = {k: v for k, v in existing.items() if k not in {key for key, _, _ in texts}}
    if sum(len(v.encode()) for v in kept.values()) <= total:
        assert sum(len(v.encode()) for v in {**kept, **data}.values()) <= total


def test_the_operator_flags_set_the_evidence_bounds_and_patterns() -> None:
    from paramedic.cli import parser

    args = parser().parse_args(
        ["run", "--evidence-item-bytes", "2048", "--evidence-total-bytes", "8192", "--evidence-redact", "x[0-9]+"]
    )
    assert (args.evidence_item_bytes, args.evidence_total_bytes, args.evidence_redact) == (2048, 8192, ["x[0-9]+"])
    settings = gather.Settings(item_bytes=2048, total_bytes=8192, redact=("x[0-9]+",))
    assert Redactor(settings.redact)("id x123 y") == f"id {MASK} y"
    defaults = parser().parse_args(["run"])
    assert (defaults.evidence_item_bytes, defaults.evidence_total_bytes) == (65536, 524288)
