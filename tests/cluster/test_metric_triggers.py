"""PromQL and Alertmanager triggers against the real Debian Prometheus and
Alertmanager on loopback."""

from __future__ import annotations

import datetime
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from paramedic.api.common import GROUP, VERSION
from paramedic_dev.cluster import DevCluster, free_port
from tests.cluster.conftest import WEBHOOK_TOKEN
from tests.cluster.test_fencing import fenced_replicas, lead_and_stand_by
from tests.cluster.test_triggers import one_remediation, remediations
from tests.kit import Kit
from tests.services import Alertmanager, Prometheus
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def error_rate() -> Iterator[Gauge]:
    registry = CollectorRegistry()
    gauge = Gauge(
        "paramedic_test_error_rate", "Share of requests failing.", ["namespace", "deployment"], registry=registry
    )
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    gauge.port = server.server_port  # type: ignore[attr-defined]
    yield gauge
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, error_rate: Gauge) -> Iterator[Prometheus]:
    server = Prometheus(tmp_path_factory.mktemp("prometheus"), [f"127.0.0.1:{error_rate.port}"])  # type: ignore[attr-defined]
    server.start_and_wait()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory, webhook_port: int) -> Iterator[Alertmanager]:
    server = Alertmanager(
        tmp_path_factory.mktemp("alertmanager"), f"http://127.0.0.1:{webhook_port}/alertmanager", WEBHOOK_TOKEN
    )
    server.start_and_wait()
    yield server
    server.stop()


def runbook_status(paramedic: Kit, name: str) -> dict[str, Any]:
    obj = paramedic.clients.custom.get_namespaced_custom_object(GROUP, VERSION, paramedic.namespace, "runbooks", name)
    return dict(obj.get("status") or {})


# -- prometheus ---------------------------------------------------------------------------------


def test_promql_condition_fires_for_the_failing_series_after_its_for(
    paramedic: Kit, prometheus: Prometheus, error_rate: Gauge
) -> None:
    ns = paramedic.namespace
    paramedic.deploy("web", replicas=1)
    paramedic.deploy("api", replicas=1)
    error_rate.labels(ns, "api").set(0.02)
    error_rate.labels(ns, "web").set(0.02)
    runbook = paramedic.runbook(
        {
            "trigger": {
                "prometheus": {
                    "url": prometheus.url,
                    "interval": "1s",
                    "for": "2s",
                    "query": f'paramedic_test_error_rate{{namespace="{ns}"}} > 0.1',
                }
            },
            "steps": [{"scale": {"by": 1, "max": 3}}],
        },
        name="error-rate",
    )
    wait_until(
        lambda: runbook_status(paramedic, runbook).get("triggerKind") == "prometheus", 30, "the first evaluation"
    )
    error_rate.labels(ns, "web").set(0.35)  # the threshold is crossed
    crossed = datetime.datetime.now(datetime.UTC)

    rem = one_remediation(paramedic, runbook)
    assert rem["spec"]["target"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": ns}
    evidence = rem["spec"]["trigger"]["evidence"]
    assert float(evidence["value"]) == pytest.approx(0.35)
    fired = datetime.datetime.fromisoformat(rem["spec"]["trigger"]["firedAt"])
    assert fired >= crossed.replace(microsecond=0) + datetime.timedelta(seconds=2)
    paramedic.wait_phase(rem["metadata"]["name"], "Succeeded")
    assert paramedic.deployment("web")["spec"]["replicas"] == 2
    assert paramedic.deployment("api")["spec"]["replicas"] == 1
    assert runbook_status(paramedic, runbook)["lastError"] == ""


def test_unreachable_prometheus_is_reported_and_never_acted_on(paramedic: Kit) -> None:
    paramedic.deploy("web", replicas=1)
    runbook = paramedic.runbook(
        {
            "trigger": {
                "prometheus": {
                    "url": f"http://127.0.0.1:{free_port()}",
                    "interval": "1s",
                    "for": "0s",
                    "query": "vector(1)",
                }
            },
            "steps": [{"scale": {"by": 1}}],
        },
        name="blind",
    )
    status = wait_until(
        lambda: (s := runbook_status(paramedic, runbook)).get("lastError") and s,
        30,
        "the error in the runbook's status",
    )
    assert "not acting" in status["lastError"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PrometheusError")
    assert remediations(paramedic, runbook) == []


def test_bad_promql_is_reported(paramedic: Kit, prometheus: Prometheus) -> None:
    runbook = paramedic.runbook(
        {
            "trigger": {"prometheus": {"url": prometheus.url, "interval": "1s", "query": "rate(oops[5m]"}},
            "steps": [{"scale": {"by": 1}}],
        },
        name="typo",
    )
    status = wait_until(lambda: (s := runbook_status(paramedic, runbook)).get("lastError") and s, 30, "the error")
    assert "query failed" in status["lastError"]
    assert remediations(paramedic, runbook) == []


def error_rate_runbook(
    paramedic: Kit,
    prometheus: Prometheus,
    deployment: str,
    hold: datetime.timedelta,
    verify: dict[str, Any] | None = None,
    **extra: Any,
) -> str:
    """A runbook that scales ``deployment`` up once its error rate has been over 10 % for ``hold``; with
    ``verify``, the scale step verifies that way (no built-in check), and ``extra`` adds to the spec."""
    ns = paramedic.namespace
    step: dict[str, Any] = {"scale": {"by": 1, "max": 3}}
    if verify is not None:
        step["verify"] = {"check": "None", **verify}
    return paramedic.runbook(
        {
            "trigger": {
                "prometheus": {
                    "url": prometheus.url,
                    "interval": "1s",
                    "for": f"{int(hold.total_seconds())}s",
                    "query": f'paramedic_test_error_rate{{namespace="{ns}",deployment="{deployment}"}} > 0.1',
                }
            },
            "steps": [step],
            **extra,
        },
        name=f"{deployment}-errors",
    )


def test_a_for_clock_survives_an_operator_restart(paramedic: Kit, prometheus: Prometheus, error_rate: Gauge) -> None:
    """The series' pending-since is in the runbook's status before the restart; the restarted operator
    resumes it (same instant) instead of starting the for again, and fires for the original start."""
    ns = paramedic.namespace
    paramedic.deploy("cart", replicas=1)
    error_rate.labels(ns, "cart").set(0.02)
    hold = datetime.timedelta(seconds=20)
    runbook = error_rate_runbook(paramedic, prometheus, "cart", hold)
    wait_until(lambda: runbook_status(paramedic, runbook).get("triggerKind") == "prometheus", 30, "an evaluation")
    error_rate.labels(ns, "cart").set(0.5)
    [pending] = wait_until(lambda: runbook_status(paramedic, runbook).get("pendingSeries"), 30, "a pending series")
    assert "deployment=cart" in pending["series"]
    assert "firedAt" not in pending
    since = datetime.datetime.fromisoformat(pending["since"])

    paramedic.operator.stop()
    stopped = datetime.datetime.now(datetime.UTC)
    assert stopped < since + hold, "the operator was stopped after the for had passed: slow machine, no test"
    assert remediations(paramedic, runbook) == []
    log_size = paramedic.operator.log.stat().st_size
    paramedic.operator.start_and_wait()

    rem = one_remediation(paramedic, runbook)
    [fired] = wait_until(
        lambda: [p for p in runbook_status(paramedic, runbook).get("pendingSeries", []) if "firedAt" in p],
        30,
        "the fire recorded",
    )
    assert fired["since"] == pending["since"]  # resumed, not started again at the restart
    assert "1 for clocks resumed from its status" in paramedic.operator.log.read_bytes()[log_size:].decode()
    assert datetime.datetime.fromisoformat(fired["firedAt"]) >= since + hold
    assert rem["spec"]["trigger"]["evidence"]["since"] == since.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert datetime.datetime.fromisoformat(rem["spec"]["trigger"]["firedAt"]) >= since.replace(microsecond=0) + hold
    paramedic.wait_phase(rem["metadata"]["name"], "Succeeded")

    error_rate.labels(ns, "cart").set(0.02)  # recovered: the clock goes
    wait_until(lambda: runbook_status(paramedic, runbook).get("pendingSeries") == [], 30, "the clock cleared")


def test_a_for_clock_survives_a_failover(
    paramedic: Kit, cluster: DevCluster, prometheus: Prometheus, error_rate: Gauge
) -> None:
    """The leader records the pending-since; the standby (which neither queries nor keeps clocks of its own
    while it stands by) takes over after the leader is killed and fires for the original start."""
    ns = paramedic.namespace
    paramedic.deploy("shop", replicas=1)
    error_rate.labels(ns, "shop").set(0.02)
    hold = datetime.timedelta(seconds=30)
    with fenced_replicas(paramedic, cluster, "clocks") as pair:
        lead_and_stand_by(paramedic, pair, "clocks")
        runbook = error_rate_runbook(paramedic, prometheus, "shop", hold)
        wait_until(lambda: runbook_status(paramedic, runbook).get("triggerKind") == "prometheus", 30, "armed")
        error_rate.labels(ns, "shop").set(0.5)
        [pending] = wait_until(lambda: runbook_status(paramedic, runbook).get("pendingSeries"), 30, "pending")
        since = datetime.datetime.fromisoformat(pending["since"])
        pair[0].process.kill()
        killed = datetime.datetime.now(datetime.UTC)
        assert killed < since + hold, "the leader was killed after the for had passed: slow machine, no test"

        [fired] = wait_until(
            lambda: [p for p in runbook_status(paramedic, runbook).get("pendingSeries", []) if "firedAt" in p],
            90,
            "the fire recorded by the new leader",
        )
        rem = one_remediation(paramedic, runbook)
        assert fired["since"] == pending["since"]  # the standby resumed the leader's clock
        assert "1 for clocks resumed from its status" in pair[1].process.log.read_text()
        assert datetime.datetime.fromisoformat(fired["firedAt"]) >= since + hold
        assert rem["spec"]["trigger"]["evidence"]["since"] == since.strftime("%Y-%m-%dT%H:%M:%SZ")
        paramedic.wait_phase(rem["metadata"]["name"], "Succeeded")


# -- alertmanager -------------------------------------------------------------------------------


def post_alerts(alertmanager: Alertmanager, alerts: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(
        f"{alertmanager.url}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def test_firing_alert_fires_once_and_resolved_never(paramedic: Kit, alertmanager: Alertmanager) -> None:
    ns = paramedic.namespace
    paramedic.deploy("router", replicas=1)
    runbook = paramedic.runbook(
        {
            "trigger": {
                "alertmanager": {
                    "alertnames": ["HighErrorRate"],
                    "matchers": [{"name": "severity", "value": "page|critical", "isRegex": True}],
                }
            },
            "steps": [{"scale": {"replicas": 2}}],
        },
        name="on-alert",
    )
    wait_until(
        lambda: runbook_status(paramedic, runbook).get("triggerKind") == "alertmanager",
        30,
        "the operator to arm the trigger",
    )
    labels = {"alertname": "HighErrorRate", "severity": "page", "namespace": ns, "deployment": "router"}
    started = datetime.datetime.now(datetime.UTC)
    post_alerts(alertmanager, [{"labels": labels, "startsAt": started.isoformat()}])

    rem = one_remediation(paramedic, runbook)
    assert rem["spec"]["target"]["name"] == "router"
    assert rem["spec"]["trigger"]["evidence"]["label.severity"] == "page"
    paramedic.wait_phase(rem["metadata"]["name"], "Succeeded")

    log_size = paramedic.operator.log.stat().st_size
    post_alerts(
        alertmanager,
        [
            {
                "labels": labels,
                "startsAt": started.isoformat(),
                "endsAt": datetime.datetime.now(datetime.UTC).isoformat(),
            }
        ],
    )
    wait_until(
        lambda: "1 resolved ignored" in paramedic.operator.log.read_bytes()[log_size:].decode(),
        30,
        "the resolved notification to reach the operator",
    )
    assert len(remediations(paramedic, runbook)) == 1


def webhook(port: int, body: bytes, token: str | None = WEBHOOK_TOKEN) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}/alertmanager", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        text = exc.read()
        try:
            return exc.code, json.loads(text)
        except ValueError:
            return exc.code, {"raw": text.decode(errors="replace")}


def payload(*alerts: dict[str, Any]) -> bytes:
    return json.dumps(
        {"version": "4", "status": "firing", "receiver": "paramedic", "groupKey": "{}", "alerts": list(alerts)}
    ).encode()


def test_webhook_rejects_bad_requests_with_the_reason(paramedic: Kit, webhook_port: int) -> None:
    alert = {"status": "firing", "labels": {"alertname": "X", "namespace": paramedic.namespace, "deployment": "d"}}
    assert webhook(webhook_port, payload(alert), token=None)[0] == 401
    assert webhook(webhook_port, payload(alert), token="wrong")[0] == 401
    code, body = webhook(webhook_port, b"{not json")
    assert code == 400
    assert "not JSON" in body["error"]
    code, body = webhook(webhook_port, json.dumps({"version": "3", "alerts": []}).encode())
    assert code == 422
    assert "version" in body["error"]
    code, _ = webhook(webhook_port, payload(alert | {"annotations": {"blob": "x" * (2 * 1024 * 1024)}}))
    assert code == 413


def test_webhook_checks_the_whole_payload_before_acting(paramedic: Kit, webhook_port: int) -> None:
    paramedic.deploy("web", replicas=1)
    runbook = paramedic.runbook(
        {"trigger": {"alertmanager": {"alertnames": ["Down"]}}, "steps": [{"scale": {"replicas": 2}}]}, name="on-down"
    )
    wait_until(
        lambda: runbook_status(paramedic, runbook).get("triggerKind") == "alertmanager",
        30,
        "the operator to arm the trigger",
    )
    good = {
        "status": "firing",
        "labels": {"alertname": "Down", "namespace": paramedic.namespace, "deployment": "web"},
        "startsAt": "2026-01-01T00:00:00Z",
    }
    broken = {"status": "firing", "labels": {"alertname": "Down", "deployment": ["not", "a", "string"]}}
    code, _ = webhook(webhook_port, payload(good, broken))
    assert code == 422
    unlabelled = {"status": "firing", "labels": {"alertname": "Down", "namespace": paramedic.namespace}}
    resolved = good | {"status": "resolved"}
    code, body = webhook(webhook_port, payload(unlabelled, resolved))
    assert code == 200
    assert body["created"] == []
    assert body["resolvedIgnored"] == 1
    assert "no 'deployment' label" in body["skipped"][0]
    assert remediations(paramedic, runbook) == []  # the broken payload created nothing either

    code, body = webhook(webhook_port, payload(good))
    assert code == 200
    assert len(body["created"]) == 1
    assert len(remediations(paramedic, runbook)) == 1
