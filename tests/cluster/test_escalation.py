"""Escalation to humans: levels in order with their delays, three payload
formats, retries of a failing channel, and the resolution message."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from paramedic.api.common import API_VERSION, GROUP, VERSION
from paramedic_dev import simulate
from tests.cluster.conftest import APPROVER_GROUP
from tests.cluster.test_metrics import value
from tests.cluster.test_safety import all_finished, policy
from tests.cluster.test_triggers import pods
from tests.kit import Kit
from tests.services import LoopbackServer
from tests.waiting import wait_until


class Receiver(LoopbackServer):
    """A local HTTP endpoint that records what it is sent; the first ``fail`` requests get a 500."""

    def __init__(self, fail: int = 0) -> None:
        self.received: list[tuple[datetime.datetime, str, dict[str, Any]]] = []
        self.fail = fail
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if receiver.fail:
                    receiver.fail -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.received.append((datetime.datetime.now(datetime.UTC), self.path, body))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    made = {"primary": Receiver(fail=2), "broken": Receiver(fail=10**6), "slack": Receiver(), "pagerduty": Receiver()}
    yield made
    for receiver in made.values():
        receiver.close()


def secret(paramedic: Kit, name: str, value: str) -> None:
    paramedic.clients.core.create_namespaced_secret(
        paramedic.namespace, {"metadata": {"name": name}, "stringData": {"value": value}}
    )


def escalation_policy(paramedic: Kit, receivers: dict[str, Receiver], **extra: Any) -> str:
    secret(paramedic, "primary", receivers["primary"].url + "/hooks/primary")
    secret(paramedic, "broken", receivers["broken"].url + "/hooks/broken")
    secret(paramedic, "slack", receivers["slack"].url + "/services/T000/B000")
    secret(paramedic, "pagerduty", "R0UTINGKEY")
    spec = {
        "levels": [
            {
                "name": "primary on-call",
                "after": "0s",
                "channels": [
                    {"name": "primary", "webhook": {"name": "primary", "key": "value"}},
                    {"name": "broken", "webhook": {"name": "broken", "key": "value"}},
                ],
            },
            {
                "name": "secondary on-call",
                "after": "3s",
                "channels": [{"name": "slack", "slack": {"name": "slack", "key": "value"}}],
            },
            {
                "name": "platform lead",
                "after": "6s",
                "channels": [
                    {
                        "name": "pd",
                        "pagerduty": {"name": "pagerduty", "key": "value"},
                        "url": receivers["pagerduty"].url + "/v2/enqueue",
                    }
                ],
            },
        ],
        "repeatInterval": "1h",
        "template": {
            "incident": "Checkout failing on {target}",
            "services": "checkout, {target}",
            "impact": "Customers cannot pay",
        },
        **extra,
    }
    body = {"apiVersion": API_VERSION, "kind": "EscalationPolicy", "metadata": {"name": "oncall"}, "spec": spec}
    paramedic.clients.custom.create_namespaced_custom_object(
        GROUP, VERSION, paramedic.namespace, "escalationpolicies", body
    )
    return "oncall"


def shop_crash_loop(paramedic: Kit, rate_limit: str, oncall: str | None = None) -> dict[str, Any]:
    """The "shop" Deployment's pod crash-loops under a runbook with these policies; its one finished Remediation."""
    spec: dict[str, Any] = {
        "trigger": {"podCrashLoop": {"minRestarts": 1}},
        "rateLimitPolicyRef": {"name": rate_limit},
        "target": {"kinds": ["Deployment"]},
        "steps": [{"rolloutRestart": {}}],
    }
    if oncall is not None:
        spec["escalationPolicyRef"] = {"name": oncall}
    runbook = paramedic.runbook(spec, name="shop-crash")
    simulate.make_crashloop(
        paramedic.clients.core, paramedic.namespace, pods(paramedic, "shop")[0].metadata.name, restarts=3
    )
    [rem] = all_finished(paramedic, runbook, 1)
    return rem


def test_levels_fire_in_order_with_their_delays_then_resolve(paramedic: Kit, receivers: dict[str, Receiver]) -> None:
    paramedic.deploy("checkout", replicas=1)
    oncall = escalation_policy(paramedic, receivers)
    # No earlier revision to roll back to: the steps are exhausted and humans are called.
    runbook = paramedic.runbook({"escalationPolicyRef": {"name": oncall}, "steps": [{"rollback": {}}]})
    rem = paramedic.remediation(
        runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"}, reason="P1 high error rate"
    )
    status = paramedic.wait_phase(rem, "Failed")
    uid = paramedic.get(rem)["metadata"]["uid"]

    wait_until(lambda: receivers["pagerduty"].received, 60, "the third level")
    # While it escalates, the finalizer on it is paramedic's own name (docs/install.md, uninstall), not Kopf's.
    finalizers = paramedic.get(rem)["metadata"].get("finalizers", [])
    assert "paramedic.dev/finalizer" in finalizers
    assert not [f for f in finalizers if "kopf" in f]
    started = datetime.datetime.fromisoformat(paramedic.status(rem)["escalation"]["startedAt"])
    ((t1, path1, generic),) = receivers["primary"].received
    ((t2, _, slack),) = receivers["slack"].received
    ((t3, path3, pagerduty),) = receivers["pagerduty"].received
    assert t1 < t2 < t3
    assert t2 - started >= datetime.timedelta(seconds=3)
    assert t3 - started >= datetime.timedelta(seconds=6)

    assert path1 == "/hooks/primary"
    assert generic["status"] == "firing"
    assert generic["incident"]["INCIDENT"] == f"Checkout failing on Deployment/{paramedic.namespace}/checkout"
    assert generic["incident"]["IMPACT"] == "Customers cannot pay"
    assert generic["incident"]["STATUS"] == "ESCALATED (StepsExhausted)"
    assert generic["incident"]["SERVICES"] == f"checkout, Deployment/{paramedic.namespace}/checkout"
    assert set(generic["incident"]) == {"INCIDENT", "STATUS", "IMPACT", "START TIME (UTC)", "SERVICES", "UPDATE", "ETA"}
    assert "rollback" in generic["steps"][0]
    assert "kubectl get remediation" in generic["links"]["REMEDIATION"]
    assert slack["text"].startswith("*[ESCALATED (StepsExhausted)]")
    assert "START TIME (UTC):" in slack["text"]
    assert path3 == "/v2/enqueue"
    assert pagerduty["routing_key"] == "R0UTINGKEY"
    assert pagerduty["event_action"] == "trigger"
    assert pagerduty["dedup_key"] == uid
    assert pagerduty["payload"]["severity"] == "critical"

    notes = {n["channel"]: n for n in paramedic.status(rem)["escalation"]["notifications"]}
    assert (notes["primary"]["outcome"], notes["primary"]["attempts"]) == ("Sent", 3)  # two 500s, then through
    assert notes["broken"]["outcome"] == "Failed"
    assert "HTTP 500" in notes["broken"]["error"]
    assert status["phase"] == "Failed"

    paramedic.resolve(rem)
    wait_until(lambda: paramedic.status(rem)["escalation"]["state"] == "Resolved", 30, "the resolution")
    assert receivers["pagerduty"].received[-1][2]["event_action"] == "resolve"
    assert receivers["primary"].received[-1][2]["status"] == "resolved"
    assert receivers["slack"].received[-1][2]["text"].startswith("*[RESOLVED]")


def test_freeze_window_escalates_instead_of_acting(paramedic: Kit, receivers: dict[str, Receiver]) -> None:
    paramedic.deploy("shop", replicas=1)
    oncall = escalation_policy(paramedic, receivers)
    now = datetime.datetime.now(datetime.UTC)
    frozen = policy(
        paramedic,
        "frozen",
        {
            "freezeWindows": [
                {
                    "name": "change freeze",
                    "start": (now - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "end": (now + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            ]
        },
    )
    rem = shop_crash_loop(paramedic, frozen, oncall)
    assert rem["status"]["phase"] == "Skipped"
    received = wait_until(lambda: receivers["primary"].received, 30, "the page")
    assert received[0][2]["incident"]["STATUS"] == "ESCALATED (Frozen)"
    assert "freeze window 'change freeze'" in received[0][2]["incident"]["UPDATE"]
    assert paramedic.deployment("shop")["metadata"]["generation"] == 1


@pytest.mark.parametrize("escalate_on", [["RateLimited"], ["StepsExhausted"]], ids=["listed", "not-listed"])
def test_rate_limited_pages_only_when_the_policy_escalates_on_it(
    paramedic: Kit, receivers: dict[str, Receiver], escalate_on: list[str]
) -> None:
    """escalateOn: RateLimited is how a rate-limited Remediation reaches a human (the RateLimitPolicy field
    escalateWhenRateLimited, which did nothing, is gone)."""
    paramedic.deploy("shop", replicas=1)
    oncall = escalation_policy(paramedic, receivers, escalateOn=escalate_on)
    spent = policy(paramedic, "spent", {"windows": [{"max": 0, "per": "1h"}], "stormBreaker": {"enabled": False}})
    rem = shop_crash_loop(paramedic, spent, oncall)
    assert rem["status"]["phase"] == "RateLimited"
    if escalate_on == ["RateLimited"]:
        received = wait_until(lambda: receivers["primary"].received, 30, "the page")
        assert received[0][2]["incident"]["STATUS"] == "ESCALATED (RateLimited)"
    else:
        assert "escalation" not in paramedic.status(rem["metadata"]["name"])
    assert paramedic.deployment("shop")["metadata"]["generation"] == 1


def test_waiting_too_long_for_approval_escalates(paramedic: Kit, receivers: dict[str, Receiver]) -> None:
    paramedic.deploy("api", replicas=1)
    oncall = escalation_policy(paramedic, receivers, approvalTimeout="2s")
    runbook = paramedic.runbook(
        {
            "requiresApproval": True,
            "approvers": {"groups": [APPROVER_GROUP]},
            "escalationPolicyRef": {"name": oncall},
            "steps": [{"scale": {"replicas": 2}}],
        }
    )
    rem = paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"})
    paramedic.wait_phase(rem, "AwaitingApproval")
    received = wait_until(lambda: receivers["primary"].received, 30, "the page")
    assert received[0][2]["incident"]["STATUS"] == "ESCALATED (ApprovalTimeout)"
    paramedic.approve(rem)
    paramedic.wait_phase(rem, "Succeeded")
    wait_until(lambda: paramedic.status(rem)["escalation"]["state"] == "Resolved", 30, "the resolution message")
    assert receivers["primary"].received[-1][2]["status"] == "resolved"


class Scripted(LoopbackServer):
    """A receiver that answers from ``script`` (status, headers) in order, then ``then`` forever; it records
    every request (time, body), whatever it answered."""

    def __init__(self, script: list[tuple[int, dict[str, str]]], then: int) -> None:
        self.requests: list[tuple[datetime.datetime, dict[str, Any]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.requests.append((datetime.datetime.now(datetime.UTC), body))
                status, headers = script.pop(0) if script else (then, {})
                self.send_response(status)
                for key, text in headers.items():
                    self.send_header(key, text)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)


def test_a_page_honours_retry_after_and_a_failing_channel_is_retried_and_counted(
    paramedic: Kit, metrics_port: int
) -> None:
    """429 with Retry-After then 200: delivered on the second try, no sooner than asked, with the level's
    severity. 500 forever: recorded as Failed and undelivered, counted in paramedic_notifications_failed_total,
    and sent again in a later round long before repeatInterval (1h)."""
    pagerduty = Scripted([(429, {"Retry-After": "2"})], then=202)
    broken = Scripted([], then=500)
    try:
        secret(paramedic, "pd-key", "R0UTINGKEY")
        secret(paramedic, "broken-url", broken.url + "/hooks/broken")
        spec = {
            "levels": [
                {
                    "name": "primary on-call",
                    "severity": "warning",
                    "channels": [
                        {"name": "pd", "pagerduty": {"name": "pd-key", "key": "value"}, "url": pagerduty.url},
                        {"name": "broken", "webhook": {"name": "broken-url", "key": "value"}},
                    ],
                }
            ],
            "repeatInterval": "1h",
        }
        body = {"apiVersion": API_VERSION, "kind": "EscalationPolicy", "metadata": {"name": "paging"}, "spec": spec}
        paramedic.clients.custom.create_namespaced_custom_object(
            GROUP, VERSION, paramedic.namespace, "escalationpolicies", body
        )
        failed_before = value(metrics_port, "paramedic_notifications_failed_total", channel="webhook")
        paramedic.deploy("till", replicas=1)
        runbook = paramedic.runbook({"escalationPolicyRef": {"name": "paging"}, "steps": [{"rollback": {}}]})
        rem = paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "till"})
        paramedic.wait_phase(rem, "Failed")

        escalation = wait_until(
            lambda: (e := paramedic.status(rem).get("escalation")) and len(e["notifications"]) >= 2 and e, 60, "a round"
        )
        notes = {n["channel"]: n for n in escalation["notifications"]}
        assert (notes["pd"]["outcome"], notes["pd"]["attempts"]) == ("Sent", 2)
        (first, _), (second, payload) = pagerduty.requests
        assert second - first >= datetime.timedelta(seconds=2)  # Retry-After honoured
        assert payload["payload"]["severity"] == "warning"
        assert (notes["broken"]["outcome"], notes["broken"]["attempts"]) == ("Failed", 4)
        assert "HTTP 500" in notes["broken"]["error"]
        assert escalation["undelivered"] == [{"level": 0, "channel": "broken", "message": "Trigger"}]
        assert escalation["retryAt"]
        assert value(metrics_port, "paramedic_notifications_failed_total", channel="webhook") >= failed_before + 1

        # The next round re-sends to the broken channel only, within seconds, not after repeatInterval.
        wait_until(lambda: len(broken.requests) > 4, 60, "a second round to the failing channel")
        wait_until(lambda: paramedic.status(rem)["escalation"]["retries"] >= 1, 60, "the round recorded")
        assert len(pagerduty.requests) == 2
        assert broken.requests[-1][1]["severity"] == "warning"
    finally:
        pagerduty.close()
        broken.close()
