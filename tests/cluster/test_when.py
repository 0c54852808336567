"""Acting on evidence on the control plane: a step's ``when:`` branch, the PromQL verification against the real
Prometheus, and the evidence in the pages, ``paramedic history NAME`` and the Events.

The evidence records are written into ``status.evidence`` through the status subresource, as the operator's
collectors write them (the evidence contract, docs/when.md); the Remediations wait for approval meanwhile, so
the records are there before the first step is reached.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import Gauge

from paramedic.api.common import API_VERSION, GROUP, VERSION
from paramedic.kube import ApiException
from paramedic_dev.cluster import DevCluster
from tests.cluster.conftest import APPROVER_GROUP
from tests.cluster.test_cli import cli
from tests.cluster.test_escalation import Receiver, secret
from tests.cluster.test_metric_triggers import error_rate, error_rate_runbook, prometheus  # noqa: F401 (fixtures)
from tests.cluster.test_triggers import one_remediation
from tests.kit import Kit
from tests.services import Prometheus
from tests.waiting import wait_until

GATED = {"requiresApproval": True, "approvers": {"groups": [APPROVER_GROUP]}}
NO_CHECK = {"check": "None"}
DB_ERROR = "2026-11-25T10:00:01Z ERROR pq: connection refused to orders-db:5432"


def evidence(matches: int, rate: float | None = None) -> list[dict[str, Any]]:
    """Records as the collectors write them: the app's logs, its Events and (optionally) an error rate."""
    lines = [DB_ERROR, "2026-11-25T10:00:02Z INFO retrying"] if matches else ["2026-11-25T10:00:02Z INFO serving"]
    records: list[dict[str, Any]] = [
        {
            "name": "appLogs",
            "kind": "logs",
            "collectedAt": "2026-11-25T10:00:03Z",
            "outcome": "Collected",
            "values": {"lines": len(lines), "matches": matches, "bytes": 120, "truncated": False},
            "excerpt": "\n".join(lines),
        },
        {
            "name": "appEvents",
            "kind": "events",
            "collectedAt": "2026-11-25T10:00:03Z",
            "outcome": "Collected",
            "values": {"count": 4, "warnings": 4, "latestReason": "BackOff"},
            "excerpt": "Warning BackOff (x4): Back-off restarting failed container app",
        },
    ]
    if rate is not None:
        records.append(
            {
                "name": "errorRate",
                "kind": "promql",
                "collectedAt": "2026-11-25T10:00:03Z",
                "outcome": "Collected",
                "values": {"value": rate, "samples": 1},
            }
        )
    return records


def record_evidence(paramedic: Kit, rem: str, records: list[dict[str, Any]]) -> None:
    paramedic.clients.custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, paramedic.namespace, "remediations", rem, {"status": {"evidence": records}}
    )


@pytest.mark.parametrize(("matches", "taken", "skipped"), [(2, "database", "restart"), (0, "restart", "database")])
def test_the_step_taken_follows_the_logs(paramedic: Kit, matches: int, taken: str, skipped: str) -> None:
    """The seed's procedure as it is meant: database errors in the logs take the database branch, none the other."""
    paramedic.deploy("app", replicas=1)
    runbook = paramedic.runbook(
        {
            **GATED,
            "steps": [
                {
                    "name": "database",
                    "scale": {"replicas": 3},
                    "when": "has(evidence.appLogs) && evidence.appLogs.matches > 0",
                    "verify": NO_CHECK,
                },
                {
                    "name": "restart",
                    "scale": {"replicas": 2},
                    "when": "!has(evidence.appLogs) || evidence.appLogs.matches == 0",
                    "verify": NO_CHECK,
                },
            ],
        }
    )
    rem = paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"})
    paramedic.wait_phase(rem, "AwaitingApproval")
    record_evidence(paramedic, rem, evidence(matches))
    paramedic.approve(rem)

    status = paramedic.wait_phase(rem, "Succeeded")
    steps = {s["name"]: s for s in status["steps"]}
    assert steps[taken]["phase"] == "Succeeded"
    assert (steps[skipped]["phase"], steps[skipped]["reason"]) == ("Skipped", "WhenNotMet")
    assert f"evidence.appLogs.matches={matches}" in steps[skipped]["message"]
    assert paramedic.deployment("app")["spec"]["replicas"] == (3 if taken == "database" else 2)
    skip_events = [e for e in paramedic.events("Remediation", rem) if e.startswith("StepSkipped")]
    assert len(skip_events) == 1
    assert f"evidence.appLogs.matches={matches}" in skip_events[0]
    said = paramedic.operator.log.read_text(errors="replace")  # one log line for the decision, too
    assert f"remediation {paramedic.namespace}/{rem}: step {steps[skipped]['index'] + 1} skipped: when" in said
    # What kubectl describe shows beside the outcome: the key figures of what was found.
    summary = wait_until(
        lambda: [e for e in paramedic.events("Remediation", rem) if e.startswith("Evidence: ")], 30, "the summary"
    )
    assert summary == [
        f"Evidence: appLogs (logs, Collected): lines={2 if matches else 1} matches={matches} bytes=120 "
        "truncated=false; appEvents (events, Collected): count=4 warnings=4 latestReason=BackOff"
    ]


def test_a_condition_naming_no_recorded_collector_skips_with_the_error(paramedic: Kit) -> None:
    paramedic.deploy("app", replicas=1)
    runbook = paramedic.runbook(
        {"steps": [{"scale": {"replicas": 2}, "when": "evidence.dbLogs.matches > 0", "verify": NO_CHECK}]}
    )
    rem = paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"})
    status = paramedic.wait_phase(rem, "Succeeded")  # AllInOrder: every step ran or was skipped
    (step,) = status["steps"]
    assert (step["phase"], step["reason"]) == ("Skipped", "WhenFailed")
    assert "could not be evaluated" in step["message"]
    assert paramedic.deployment("app")["spec"]["replicas"] == 1


def test_a_when_that_does_not_compile_marks_the_runbook_invalid(paramedic: Kit) -> None:
    runbook = paramedic.runbook({"steps": [{"scale": {"replicas": 2}, "when": "evidence.x.matches >"}]})

    def ready() -> dict[str, Any] | None:
        obj = paramedic.clients.custom.get_namespaced_custom_object(
            GROUP, VERSION, paramedic.namespace, "runbooks", runbook
        )
        conditions = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
        return conditions.get("Ready")

    condition = wait_until(ready, 30, "the runbook's Ready condition")
    assert (condition["status"], condition["reason"]) == ("False", "Invalid")
    assert "when does not parse" in condition["message"]


def test_the_api_server_bounds_a_tenants_condition_and_query(tenant: Kit) -> None:
    """A namespace's owner cannot store a condition or a PromQL verification longer than the bounds."""
    for step, field in (
        ({"scale": {"replicas": 2}, "when": "true || " * 200 + "true"}, "spec.steps[0].when: Too long"),
        ({"scale": {"replicas": 2}, "verify": {"promql": "u" * 8193}}, "spec.steps[0].verify.promql: Too long"),
    ):
        with pytest.raises(ApiException) as caught:
            tenant.runbook({"steps": [step]})
        assert caught.value.status == 422
        assert field in caught.value.body


# -- PromQL verification -----------------------------------------------------------------------


def test_a_promql_verification_waits_until_the_condition_holds(
    paramedic: Kit,
    prometheus: Prometheus,  # noqa: F811 (fixture)
    error_rate: Gauge,  # noqa: F811 (fixture)
) -> None:
    ns = paramedic.namespace
    paramedic.deploy("web", replicas=1)
    error_rate.labels(ns, "web").set(0.35)
    healthy = f'paramedic_test_error_rate{{namespace="{ns}",deployment="web"}} < 0.05'
    verify = {"promql": healthy, "stableFor": "2s", "timeout": "90s"}
    runbook = error_rate_runbook(paramedic, prometheus, "web", datetime.timedelta(0), verify)
    rem = one_remediation(paramedic, runbook)["metadata"]["name"]

    def waiting() -> bool:
        steps = paramedic.status(rem).get("steps") or []
        return bool(steps) and "verifying PromQL: the query returns no series" in steps[0]["message"]

    wait_until(waiting, 60, "the verification to wait on the error rate")
    assert paramedic.status(rem)["phase"] == "Verifying"
    error_rate.labels(ns, "web").set(0.01)
    status = paramedic.wait_phase(rem, "Succeeded", timeout=60)
    assert status["steps"][0]["message"].startswith("verified (PromQL): the query returns value 0.01")
    assert paramedic.deployment("web")["spec"]["replicas"] == 2


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    made = {"hook": Receiver(), "slack": Receiver(), "pagerduty": Receiver()}
    yield made
    for receiver in made.values():
        receiver.close()


def oncall(paramedic: Kit, receivers: dict[str, Receiver]) -> str:
    secret(paramedic, "hook", receivers["hook"].url + "/hooks/oncall")
    secret(paramedic, "slack", receivers["slack"].url + "/services/T000/B000")
    secret(paramedic, "pagerduty", "R0UTINGKEY")
    spec = {
        "levels": [
            {
                "name": "on-call",
                "after": "0s",
                "channels": [
                    {"name": "hook", "webhook": {"name": "hook", "key": "value"}},
                    {"name": "slack", "slack": {"name": "slack", "key": "value"}},
                    {
                        "name": "pd",
                        "pagerduty": {"name": "pagerduty", "key": "value"},
                        "url": receivers["pagerduty"].url + "/v2/enqueue",
                    },
                ],
            }
        ],
        "template": {"incident": "Web failing on {target}", "impact": "evidence: {evidence}"},
    }
    body = {"apiVersion": API_VERSION, "kind": "EscalationPolicy", "metadata": {"name": "oncall"}, "spec": spec}
    paramedic.clients.custom.create_namespaced_custom_object(
        GROUP, VERSION, paramedic.namespace, "escalationpolicies", body
    )
    return "oncall"


def test_a_promql_verification_that_never_holds_times_out_and_pages_with_the_evidence(
    paramedic: Kit,
    cluster: DevCluster,
    prometheus: Prometheus,  # noqa: F811 (fixture)
    error_rate: Gauge,  # noqa: F811 (fixture)
    receivers: dict[str, Receiver],
    approver: Kit,
) -> None:
    ns = paramedic.namespace
    paramedic.deploy("web", replicas=1)
    error_rate.labels(ns, "web").set(0.35)
    never = f'paramedic_test_error_rate{{namespace="{ns}",deployment="web"}} < 0'
    runbook = error_rate_runbook(
        paramedic,
        prometheus,
        "web",
        datetime.timedelta(0),
        {"promql": never, "timeout": "5s"},
        escalationPolicyRef={"name": oncall(paramedic, receivers)},
        **GATED,
    )
    rem = one_remediation(paramedic, runbook)["metadata"]["name"]
    paramedic.wait_phase(rem, "AwaitingApproval")
    record_evidence(paramedic, rem, evidence(1, rate=0.35))
    approver.approve(rem)  # the operator (this suite's admin) requested it: someone else approves

    status = paramedic.wait_phase(rem, "Failed", timeout=60)
    (step,) = status["steps"]
    assert step["reason"] == "VerificationFailed"
    assert step["message"].startswith("PromQL did not hold within 5s: the query returns no series")
    assert status["escalation"]["reason"] == "VerificationFailed"

    wait_until(lambda: all(r.received for r in receivers.values()), 60, "the page on every channel")
    (_, _, hook) = receivers["hook"].received[0]
    by_name = {r["name"]: r for r in hook["evidence"]}
    assert DB_ERROR in by_name["appLogs"]["excerpt"]
    assert by_name["appLogs"]["values"]["matches"] == 1
    assert "Back-off restarting failed container" in by_name["appEvents"]["excerpt"]
    assert by_name["errorRate"]["values"]["value"] == 0.35
    assert DB_ERROR in hook["text"]
    assert "errorRate (promql, Collected): value=0.35" in hook["text"]
    assert "appLogs (logs, Collected): lines=2 matches=1" in hook["incident"]["IMPACT"]  # the {evidence} variable

    (_, _, slack) = receivers["slack"].received[0]
    texts = [b["text"]["text"] for b in slack["blocks"] if b["type"] == "section" and "text" in b]
    assert any(DB_ERROR in t and t.startswith("```") for t in texts)
    assert any("value=0.35" in t for t in texts)
    assert all(len(t) <= 3000 for t in texts)
    (_, _, pagerduty) = receivers["pagerduty"].received[0]
    details = pagerduty["payload"]["custom_details"]["evidence"]
    assert DB_ERROR in details["appLogs"]["excerpt"]
    assert details["errorRate"]["values"]["value"] == 0.35

    printed = cli(cluster, "history", "-n", ns, rem)
    assert printed.returncode == 0, printed.stderr
    assert "1. scale: Failed: PromQL did not hold within 5s" in printed.stdout
    assert "appLogs (logs, Collected): lines=2 matches=1 bytes=120 truncated=false" in printed.stdout
    assert f"    {DB_ERROR}" in printed.stdout
    assert "errorRate (promql, Collected): value=0.35 samples=1" in printed.stdout
