"""The Paintbox seed procedures P0 and P2 as written in examples/, with their investigation: each is driven by
its own trigger (or run by hand for the page), and each test asserts the evidence recorded before acting and
the branch taken. P1 is test_seed_p1.py, which shares this module's fixtures.

Split from test_seed_examples.py so that neither grows past 400 lines."""

from __future__ import annotations

import contextlib
import datetime
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from paramedic.api.common import GROUP, VERSION
from paramedic_dev import simulate
from paramedic_dev.cluster import DevCluster
from paramedic_dev.install import OperatorProcess
from tests.cluster.test_evidence import records
from tests.cluster.test_seed_examples import APPLIED, EXAMPLES, _no_freeze, fired, kubectl, phase, replace_live
from tests.kit import deployment
from tests.waiting import wait_until

ENDED = ("Succeeded", "Failed", "Skipped", "RateLimited")


@pytest.fixture(scope="module")
def paintbox(cluster: DevCluster, crds: None, clients: Any) -> Iterator[None]:
    """The examples applied, as test_seed_examples' ``seeds`` does, once the paintbox namespace that module
    deleted on its way out (without waiting) is gone: a terminating namespace takes no new objects."""

    def usable() -> bool:
        found = [n for n in clients.core.list_namespace().items if n.metadata.name == "paintbox"]
        return not found or found[0].status.phase == "Active"

    wait_until(usable, 120, "the paintbox namespace of an earlier module to be gone")
    for path in APPLIED:
        result = kubectl(cluster, "apply", "-f", str(path))
        assert result.returncode == 0, result.stderr
    yield
    for path in reversed(APPLIED):
        kubectl(cluster, "delete", "--wait=false", "--ignore-not-found", "-f", str(path))


def running(clients: Any, app: str, count: int) -> list[str]:
    def found() -> list[str] | None:
        pods = clients.core.list_namespaced_pod("paintbox", label_selector=f"app={app}").items
        names = [p.metadata.name for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]
        return names if len(names) >= count else None

    return wait_until(found, 60, f"{count} running {app} pods")


def steps(status: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["name"], s["phase"]) for s in status["steps"]]


@pytest.mark.usefixtures("paintbox")
def test_p0_failing_pods_are_recorded_then_router_and_frontend_restarted_under_a_silence(
    clients: Any, operator: OperatorProcess, alertmanager: Any
) -> None:
    """The P0 example through its own trigger: the real Alertmanager fires ProductionDown to the operator's
    webhook for the frontend, one of whose pods is restarting; its pods, Events and error lines are recorded,
    the pods are failing so both Deployments are restarted and verified, the frontend's pods recorded again,
    and the alert is silenced while that runs."""
    from tests.cluster.test_silences import am

    running(clients, "apollo-router", 3)
    frontend = running(clients, "frontend", 2)
    wait_until(
        lambda: (
            (
                clients.custom.get_namespaced_custom_object(
                    GROUP, VERSION, "paintbox", "runbooks", "p0-production-down"
                ).get("status")
                or {}
            ).get("triggerKind")
            == "alertmanager"
        ),
        30,
        "the P0 trigger to be armed",
    )
    # Below the crash-loop runbook's threshold (3), and not the router's: only P0 is about it.
    simulate.make_crashloop(clients.core, "paintbox", frontend[0], restarts=2)
    generations = {
        d: clients.apps.read_namespaced_deployment(d, "paintbox").metadata.generation
        for d in ("apollo-router", "frontend")
    }
    labels = {"alertname": "ProductionDown", "severity": "critical", "namespace": "paintbox", "deployment": "frontend"}
    ends = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)
    am(alertmanager, "POST", "/api/v2/alerts", [{"labels": labels, "endsAt": ends.isoformat()}])
    try:
        found = wait_until(lambda: fired(clients, "p0-production-down"), 60, "Alertmanager to fire ProductionDown")
        assert len(found) == 1
        assert found[0]["spec"]["trigger"]["kind"] == "alertmanager"
        name = found[0]["metadata"]["name"]
        status = phase(clients, "paintbox", name, *ENDED)
        assert status["phase"] == "Succeeded", status["message"]
        assert [(s["action"], s["target"]["name"], s["phase"]) for s in status["steps"]] == [
            ("rolloutRestart", "apollo-router", "Succeeded"),
            ("rolloutRestart", "frontend", "Succeeded"),
        ]
        for workload, before in generations.items():
            assert clients.apps.read_namespaced_deployment(workload, "paintbox").metadata.generation == before + 1
        # What was seen before acting: the failing frontend pod, its Events, its log lines (or why not).
        before = records(status)
        assert set(before) == {"pods", "podEvents", "errors"}
        assert before["pods"]["outcome"] == "Collected"
        assert before["pods"]["values"]["restarts"] >= 2
        assert frontend[0] in before["pods"]["excerpt"]
        assert before["podEvents"]["outcome"] == "Collected"
        assert before["errors"]["kind"] == "logs"
        # ...and after the frontend's restart (step index 1): new pods, none restarting.
        after = records(status, after=1)
        assert set(after) == {"pods"}
        assert after["pods"]["values"]["restarts"] == 0
        assert frontend[0] not in after["pods"]["excerpt"]
        silence = wait_until(
            lambda: (
                (s := phase(clients, "paintbox", name, "Succeeded").get("silence") or {}).get("state") == "Expired"
                and s
            ),
            30,
            "the P0 silence to be expired",
        )
        assert sorted(silence["matchers"]) == sorted(f"{k}={v}" for k, v in labels.items())
        assert am(alertmanager, "GET", f"/api/v2/silence/{silence['id']}")["status"]["state"] == "expired"
    finally:
        ended = datetime.datetime.now(datetime.UTC).isoformat()
        am(alertmanager, "POST", "/api/v2/alerts", [{"labels": labels, "endsAt": ended}])


@pytest.fixture
def paintbox_traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """A real Prometheus scraping an exporter of paintbox request counters; yields (url, counter). One per
    test: a series that fired in an earlier test stays above its threshold for the 5m of its rate(), and the
    storm breaker would count it with the next test's."""
    from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

    from tests.services import Prometheus

    registry = CollectorRegistry()
    requests = Counter("http_requests", "Requests served.", ["namespace", "deployment", "code"], registry=registry)
    latency = Histogram(
        "http_request_duration_seconds",
        "Request latency.",
        ["namespace", "deployment"],
        buckets=(0.25, 0.5, 1, 2, 5, 10),
        registry=registry,
    )
    requests.latency = latency  # type: ignore[attr-defined]  # one exporter, both series
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    prometheus = Prometheus(tmp_path_factory.mktemp("paintbox-prometheus"), [f"127.0.0.1:{server.server_port}"])
    prometheus.start_and_wait()
    yield prometheus.url, requests
    prometheus.stop()
    server.shutdown()
    thread.join(5)


@pytest.mark.usefixtures("paintbox")
def test_p2_latency_records_latency_and_resources_then_scales_out(
    clients: Any, operator: OperatorProcess, paintbox_traffic: tuple[str, Any]
) -> None:
    """The p95 that fired (the trigger's evidence) and the pods' resources are recorded, then it scales out."""
    _no_freeze(clients)
    url, requests = paintbox_traffic
    clients.apps.create_namespaced_deployment(
        "paintbox", deployment("gallery-subgraph", 2, memory="256Mi", image="registry.invalid/sg:1")
    )
    example = yaml.safe_load((EXAMPLES / "paintbox" / "runbook-p2-latency.yaml").read_text())
    example["spec"]["trigger"]["prometheus"].update({"url": url, "for": "2s", "interval": "1s"})
    replace_live(clients, "runbooks", example)
    stop = threading.Event()

    def traffic() -> None:  # the gallery subgraph answers in 3-4 s
        while not stop.wait(0.2):
            for seconds in (3.0, 3.5, 4.0):
                requests.latency.labels("paintbox", "gallery-subgraph").observe(seconds)

    threading.Thread(target=traffic, daemon=True).start()
    try:
        found = wait_until(lambda: fired(clients, "p2-latency"), 90, "the P2 runbook to fire")
        assert found[0]["spec"]["target"]["name"] == "gallery-subgraph"
        status = phase(clients, "paintbox", found[0]["metadata"]["name"], *ENDED)
    finally:
        stop.set()
    assert status["phase"] == "Succeeded", status["message"]
    assert steps(status) == [("scale out", "Succeeded")]
    assert status["steps"][0]["changes"] == {"from": 2, "to": 4}
    assert clients.apps.read_namespaced_deployment("gallery-subgraph", "paintbox").spec.replicas == 4
    assert 2 < float(found[0]["spec"]["trigger"]["evidence"]["value"]) <= 5  # the p95 latency, in seconds
    before = records(status)
    assert before["resources"]["values"]["restarts"] == 0
    assert before["resources"]["values"]["oomKilled"] is False
    assert "limits {'memory': '256Mi'}" in before["resources"]["excerpt"]
    assert before["podEvents"]["outcome"] == "Collected"
    assert records(status, after=0)["resources"]["excerpt"].count("Pod gallery-subgraph") == 4


@pytest.mark.usefixtures("paintbox")
def test_p0_restarts_that_do_not_help_page_the_on_call_with_what_was_seen(
    clients: Any, operator: OperatorProcess
) -> None:
    """P0 as written but for its page (a webhook to a local receiver) and the frontend's verify timeout (5s, it
    says 3m), run by hand on a failing storefront: the router restarts fine, the frontend's new pods keep
    crashing, the step fails and the page carries the storefront's pods, Events and log lines as recorded."""
    from tests.cluster.test_escalation import Receiver

    receiver = Receiver()
    stop = threading.Event()
    try:
        clients.core.create_namespaced_secret(
            "paintbox", {"metadata": {"name": "p0-hook"}, "stringData": {"url": receiver.url + "/hooks/p0"}}
        )
        policy = {
            "levels": [
                {"name": "on-call", "channels": [{"name": "hook", "webhook": {"name": "p0-hook", "key": "url"}}]}
            ]
        }
        clients.custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            "paintbox",
            "escalationpolicies",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "EscalationPolicy",
                "metadata": {"name": "p0-page"},
                "spec": policy,
            },
        )
        example = yaml.safe_load((EXAMPLES / "paintbox" / "runbook-p0-production-down.yaml").read_text())
        example["spec"]["escalationPolicyRef"] = {"name": "p0-page"}
        example["spec"]["steps"][1]["verify"]["timeout"] = "5s"
        replace_live(clients, "runbooks", example)
        clients.apps.create_namespaced_deployment(
            "paintbox", deployment("storefront", 1, image="registry.invalid/sf:1")
        )
        (pod,) = running(clients, "storefront", 1)
        simulate.make_crashloop(clients.core, "paintbox", pod, restarts=2)
        old = set(running(clients, "frontend", 2))

        def crash_new_frontends() -> None:  # the restarted frontend crashes as the old one did
            while not stop.wait(0.3):
                for p in clients.core.list_namespaced_pod("paintbox", label_selector="app=frontend").items:
                    statuses = p.status.container_statuses or []
                    if (
                        p.metadata.name not in old
                        and p.status.phase == "Running"
                        and all(s.restart_count == 0 for s in statuses)
                    ):
                        with contextlib.suppress(Exception):
                            simulate.make_crashloop(clients.core, "paintbox", p.metadata.name, restarts=1)

        threading.Thread(target=crash_new_frontends, daemon=True).start()
        target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "storefront"}
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Remediation",
            "metadata": {"name": "p0-storefront"},
            "spec": {"runbookRef": {"name": "p0-production-down"}, "target": target, "reason": "storefront down"},
        }
        clients.custom.create_namespaced_custom_object(GROUP, VERSION, "paintbox", "remediations", body)
        status = phase(clients, "paintbox", "p0-storefront", *ENDED)
        assert status["phase"] == "Failed", status["message"]
        assert steps(status) == [("restart router", "Succeeded"), ("restart frontend", "Failed")]
        ((_, path, page),) = wait_until(lambda: receiver.received, 60, "the page")
        assert path == "/hooks/p0"
        # What P0 saw before acting: the storefront's failing pod.
        before = records(status)
        assert before["pods"]["values"]["restarts"] == 2
        assert f"Pod {pod}" in before["pods"]["excerpt"]
        # The page: the latest record of each collector, the frontend's pods as the failed step left them.
        sent = {r["name"]: r for r in page["evidence"]}
        assert set(sent) == {"pods", "podEvents", "errors"}
        assert (sent["pods"]["after"], sent["pods"]["values"]["ready"]) == (1, False)
        assert "Pod frontend-" in sent["pods"]["excerpt"]
        assert sent["podEvents"] == {k: v for k, v in before["podEvents"].items() if k in sent["podEvents"]}
        assert "pods (summary, Collected, after step 2): restarts=" in page["text"]
        assert "podEvents (events, Collected): count=" in page["text"]
    finally:
        stop.set()
        receiver.close()
