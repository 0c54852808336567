"""Issue #11, tenant text and outbound calls: everything here is created by the namespace user (the
``tenant`` fixture impersonates alice, bound to ``edit`` and ``paramedic-edit`` in her namespace only).

Hostile patterns and templates leave the operator responsive and its memory flat; an invalid pattern
sidelines only its own runbook; URLs the admin did not allow are refused with the reason in status, and
no response body ever reaches a status."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from paramedic.api.common import API_VERSION, GROUP, VERSION
from paramedic.kube import ApiException
from paramedic_dev import simulate
from tests.cluster.conftest import APPROVER_GROUP
from tests.cluster.test_metric_triggers import payload, runbook_status, webhook
from tests.cluster.test_triggers import one_remediation, pods, remediations
from tests.kit import Kit
from tests.services import LoopbackServer
from tests.waiting import wait_until

SECRET_BODY = "internal-detail-7f3a: db password is hunter2"
METADATA_REFUSED = "refused: 169.254.169.254 is a link-local or cloud metadata address, always refused"


class Receiver(LoopbackServer):
    """An HTTP endpoint on loopback that records requests and answers with ``status`` and a body
    no status field may ever show."""

    def __init__(self, status: int = 200) -> None:
        self.received: list[tuple[str, str, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.received.append((self.command, self.path, self.rfile.read(length)))
                body = SECRET_BODY.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


@pytest.fixture
def failing() -> Iterator[Receiver]:
    made = Receiver(status=500)
    yield made
    made.close()


def rss_kib(pid: int) -> int:
    """The process's resident set size (VmRSS, in KiB)."""
    line = next(li for li in Path(f"/proc/{pid}/status").read_text().splitlines() if li.startswith("VmRSS:"))
    return int(line.split()[1])


def create(kit: Kit, plural: str, kind: str, name: str, spec: dict[str, Any]) -> None:
    body = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}
    kit.clients.custom.create_namespaced_custom_object(GROUP, VERSION, kit.namespace, plural, body)


def secret(kit: Kit, name: str, value: str) -> None:
    kit.clients.core.create_namespaced_secret(kit.namespace, {"metadata": {"name": name}, "stringData": {"url": value}})


def escalate_by_approval_timeout(tenant: Kit, channels: list[dict[str, Any]], **template: str) -> str:
    """An EscalationPolicy (approvalTimeout 1s) on a runbook that needs approval, and a Remediation of it
    left unapproved: the operator pages the policy's channels about a second later. Returns the Remediation."""
    spec: dict[str, Any] = {
        "levels": [{"name": "primary", "channels": channels}],
        "approvalTimeout": "1s",
        "repeatInterval": "1h",
    }
    if template:
        spec["template"] = template
    create(tenant, "escalationpolicies", "EscalationPolicy", "oncall", spec)
    tenant.deploy("api", replicas=1)
    runbook = tenant.runbook(
        {
            "requiresApproval": True,
            "approvers": {"groups": [APPROVER_GROUP]},
            "escalationPolicyRef": {"name": "oncall"},
            "steps": [{"scale": {"replicas": 2}}],
        }
    )
    return tenant.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"})


def notifications(tenant: Kit, rem: str) -> list[dict[str, Any]]:
    return list((tenant.status(rem).get("escalation") or {}).get("notifications") or [])


def crash_loop_fires_within(tenant: Kit, admin: Kit, seconds: float) -> float:
    """Make a pod crash-loop (the kubelet's part, played by the admin) and return how long the operator took
    to open its Remediation."""
    tenant.deploy("probe", replicas=1)
    runbook = tenant.runbook(
        {
            "trigger": {"podCrashLoop": {"minRestarts": 1}},
            "requiresApproval": True,
            "approvers": {"groups": [APPROVER_GROUP]},
            "steps": [{"rolloutRestart": {}}],
        }
    )
    wait_until(lambda: runbook_status(tenant, runbook).get("triggerKind") == "podCrashLoop", 30, "the trigger armed")
    pod = pods(tenant, "probe")[0].metadata.name
    started = time.monotonic()
    simulate.make_crashloop(admin.clients.core, tenant.namespace, pod, restarts=1)
    wait_until(lambda: remediations(tenant, runbook), seconds, "the crash loop's Remediation", every=0.02)
    return time.monotonic() - started


def test_hostile_pattern_and_template_leave_the_operator_responsive_and_its_memory_flat(
    tenant: Kit, paramedic: Kit, webhook_port: int, receiver: Receiver
) -> None:
    pid = tenant.operator.pid
    assert pid is not None
    create(
        tenant,
        "runbooks",
        "Runbook",
        "redos",
        {
            "trigger": {
                "alertmanager": {
                    "alertnames": ["Down"],
                    "matchers": [{"name": "service", "value": "(.+)+!", "isRegex": True}],
                }
            },
            "steps": [{"rolloutRestart": {}}],
        },
    )
    wait_until(lambda: runbook_status(tenant, "redos").get("triggerKind") == "alertmanager", 30, "the trigger armed")
    before = rss_kib(pid)

    # Python's re needs 2^n steps for (.+)+! against n characters without '!': 30 would take minutes.
    hostile = {
        "status": "firing",
        "labels": {"alertname": "Down", "namespace": tenant.namespace, "deployment": "x", "service": "a" * 100_000},
    }
    started = time.monotonic()
    code, body = webhook(webhook_port, payload(*[hostile] * 5))
    webhook_seconds = time.monotonic() - started
    assert code == 200, body
    assert body["matched"] == 0
    assert webhook_seconds < 2.0

    secret(tenant, "page", receiver.url + "/hooks/page")
    rem = escalate_by_approval_timeout(
        tenant,
        [{"name": "page", "webhook": {"name": "page", "key": "url"}}],
        incident="{reason:>600000000}",
        impact="{target.__class__.__mro__} {remediation[0]}",
    )
    wait_until(lambda: receiver.received, 30, "the page")
    fields = json.loads(receiver.received[0][2])["incident"]
    assert fields["INCIDENT"] == "{reason:>600000000}"  # a format spec is text, not a 600 MB string
    assert fields["IMPACT"] == "{target.__class__.__mro__} {remediation[0]}"
    [note] = wait_until(lambda: notifications(tenant, rem), 30, "the page recorded in status")
    assert note["outcome"] == "Sent"

    latency = crash_loop_fires_within(tenant, paramedic, 1.0)
    after = rss_kib(pid)
    print(
        f"webhook with 5 hostile alerts: {webhook_seconds:.3f}s; crash loop fired after {latency:.3f}s; "
        f"operator VmRSS {before} KiB -> {after} KiB"
    )
    assert after - before < 50 * 1024, (before, after)  # flat: not the 600 MB the template asked for
    assert tenant.operator.running


def test_an_invalid_pattern_sidelines_only_its_runbook(tenant: Kit, webhook_port: int) -> None:
    tenant.deploy("web", replicas=1)
    bad = {"alertnames": ["Down"], "matchers": [{"name": "service", "value": "(web", "isRegex": True}]}
    good = {"alertnames": ["Down"], "matchers": [{"name": "service", "value": "web|api", "isRegex": True}]}
    create(tenant, "runbooks", "Runbook", "bad", {"trigger": {"alertmanager": bad}, "steps": [{"rolloutRestart": {}}]})
    create(tenant, "runbooks", "Runbook", "good", {"trigger": {"alertmanager": good}, "steps": [{"scale": {"by": 1}}]})

    def not_ready() -> dict[str, Any] | None:
        status = runbook_status(tenant, "bad")
        return status if status.get("lastError") else None

    status = wait_until(not_ready, 30, "the bad runbook's status to show its error")
    [ready] = status["conditions"]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "False", "InvalidPattern")
    assert ready["message"].startswith("spec.trigger.alertmanager.matchers[0].value: invalid RE2 pattern '(web'")
    assert "missing )" in ready["message"]
    wait_until(lambda: runbook_status(tenant, "good").get("conditions"), 30, "the good runbook's status")
    assert runbook_status(tenant, "good")["conditions"][0]["status"] == "True"

    alert = {
        "status": "firing",
        "labels": {"alertname": "Down", "namespace": tenant.namespace, "deployment": "web", "service": "web"},
        "startsAt": "2026-01-01T00:00:00Z",
    }
    code, body = webhook(webhook_port, payload(alert))
    assert code == 200, body
    assert len(body["created"]) == 1
    assert any("Runbook/" + tenant.namespace + "/bad is not ready" in s for s in body["skipped"])
    assert one_remediation(tenant, "good")["spec"]["runbookRef"]["name"] == "good"
    assert remediations(tenant, "bad") == []

    # Fixed, the runbook is armed again.
    tenant.clients.custom.patch_namespaced_custom_object(
        GROUP, VERSION, tenant.namespace, "runbooks", "bad", {"spec": {"trigger": {"alertmanager": good}}}
    )
    wait_until(lambda: runbook_status(tenant, "bad").get("lastError") == "", 30, "the fixed runbook to be Ready")
    assert runbook_status(tenant, "bad")["conditions"][0]["reason"] == "Armed"


def test_the_api_server_bounds_patterns_and_templates(tenant: Kit) -> None:
    too_long = {"name": "service", "value": "a" * 1025, "isRegex": True}
    with pytest.raises(ApiException) as caught:
        create(
            tenant,
            "runbooks",
            "Runbook",
            "long",
            {"trigger": {"alertmanager": {"alertnames": ["X"], "matchers": [too_long]}}, "steps": [{"deletePod": {}}]},
        )
    assert caught.value.status == 422
    assert "spec.trigger.alertmanager.matchers[0].value: Too long" in caught.value.body
    channel = {"name": "page", "webhook": {"name": "page", "key": "url"}}
    spec = {"levels": [{"name": "l", "channels": [channel]}], "template": {"incident": "x" * 1001}}
    with pytest.raises(ApiException) as caught:
        create(tenant, "escalationpolicies", "EscalationPolicy", "long", spec)
    assert caught.value.status == 422
    assert "spec.template.incident: Too long" in caught.value.body


def test_prometheus_urls_of_a_tenant_are_refused_unless_allowed(tenant: Kit, failing: Receiver) -> None:
    def prometheus_runbook(name: str, url: str) -> None:
        create(
            tenant,
            "runbooks",
            "Runbook",
            name,
            {"trigger": {"prometheus": {"url": url, "query": "up", "interval": "1s"}}, "steps": [{"deletePod": {}}]},
        )

    prometheus_runbook("metadata", "http://169.254.169.254/latest/meta-data/")
    prometheus_runbook("elsewhere", "https://prometheus.example.com/")
    prometheus_runbook("allowed", failing.url + "/prom")

    def error_of(name: str) -> str:
        return str(wait_until(lambda: runbook_status(tenant, name).get("lastError"), 30, f"{name}'s error"))

    assert error_of("metadata") == f"not acting: prometheus.url {METADATA_REFUSED}"
    assert error_of("elsewhere").startswith(
        "not acting: prometheus.url refused: https://prometheus.example.com is not on the operator's "
        "allow-list (--allowed-url-prefix)"
    )
    # On the allow-list (the test operator allows http://127.0.0.1): queried, and its error body stays out.
    assert error_of("allowed") == "query failed, not acting: HTTP 500 Internal Server Error"
    assert any(path.startswith("/prom/api/v1/query?query=up") for _, path, _ in failing.received)
    for name in ("metadata", "elsewhere", "allowed"):
        status = runbook_status(tenant, name)
        assert status["conditions"][0]["status"] == "False"
        assert SECRET_BODY not in json.dumps(status)
    assert remediations(tenant, "allowed") == []


def test_escalation_channels_of_a_tenant_are_refused_unless_allowed(
    tenant: Kit, receiver: Receiver, failing: Receiver
) -> None:
    # Same server, named by a host the allow-list does not name: refused, and nothing reaches it.
    secret(tenant, "elsewhere", receiver.url.replace("127.0.0.1", "localhost") + "/hooks/x")
    secret(tenant, "failing", failing.url + "/hooks/failing")
    tenant.clients.core.create_namespaced_secret(
        tenant.namespace, {"metadata": {"name": "pd"}, "stringData": {"url": "R0UTINGKEY"}}
    )
    rem = escalate_by_approval_timeout(
        tenant,
        [
            {"name": "elsewhere", "webhook": {"name": "elsewhere", "key": "url"}},
            {"name": "metadata", "pagerduty": {"name": "pd", "key": "url"}, "url": "http://169.254.169.254/v2/"},
            {"name": "failing", "webhook": {"name": "failing", "key": "url"}},
        ],
    )
    found = wait_until(lambda: len(notifications(tenant, rem)) == 3 and notifications(tenant, rem), 60, "3 notes")
    notes = {n["channel"]: n for n in found}
    assert all(n["outcome"] == "Failed" for n in notes.values())
    assert notes["elsewhere"]["error"].startswith(
        f"refused: http://localhost:{receiver.server.server_port} is not on the operator's allow-list"
    )
    assert notes["metadata"]["error"] == METADATA_REFUSED
    assert notes["failing"]["error"] == "HTTP 500 Internal Server Error"
    assert failing.received  # allowed: it was called
    assert receiver.received == []  # refused: never called
    assert SECRET_BODY not in json.dumps(tenant.status(rem))
    assert "/hooks/x" not in json.dumps(tenant.status(rem))  # a webhook URL's path is a secret
