"""The Prometheus client: a stuck server beside the real one, per-query timeouts, and bearer tokens from
labelled Secrets."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from prometheus_client import Gauge

from paramedic.triggers.prometheus import PER_ENDPOINT, TOKEN_LABEL
from tests.cluster.test_metric_triggers import error_rate, prometheus, runbook_status  # noqa: F401 (fixtures)
from tests.cluster.test_triggers import one_remediation, remediations
from tests.kit import Kit
from tests.services import LoopbackServer, Prometheus, reply_json
from tests.waiting import wait_until


class Stuck(LoopbackServer):
    """Accepts every query and never answers (until closed); keeps when each connection was open."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.open: list[tuple[float, float]] = []
        self.seen = 0
        stuck = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                arrived = time.monotonic()
                stuck.seen += 1
                while not stuck.release.wait(0.01):
                    readable, _, _ = select.select([self.connection], [], [], 0)
                    if readable and not self.connection.recv(1, socket.MSG_PEEK):
                        break  # the client gave up and closed the connection
                stuck.open.append((arrived, time.monotonic()))

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)
        self.server.daemon_threads = True

    def most_at_once(self, margin: float) -> int:
        """The most connections open together, each counted until ``margin`` seconds before this server saw it
        close (a connection closes just before the next one opens; the server notices a moment later)."""
        spans = [(a, e - margin) for a, e in self.open if e - margin > a]
        return max((sum(1 for a, e in spans if a <= t < e) for t, _ in spans), default=0)

    def close(self) -> None:
        self.release.set()
        super().close()


@pytest.fixture
def stuck() -> Iterator[Stuck]:
    server = Stuck()
    yield server
    server.close()


def promql(url: str, query: str, **extra: Any) -> dict[str, Any]:
    return {
        "trigger": {"prometheus": {"url": url, "interval": "1s", "for": "0s", "query": query, **extra}},
        "steps": [{"scale": {"by": 1, "max": 3}}],
    }


def test_a_stuck_prometheus_does_not_stall_the_real_one(
    paramedic: Kit,
    prometheus: Prometheus,  # noqa: F811
    error_rate: Gauge,  # noqa: F811
    stuck: Stuck,
) -> None:
    ns = paramedic.namespace
    paramedic.deploy("web", replicas=1)
    blind = [
        paramedic.runbook(promql(stuck.url, "vector(1)", timeout="3s"), name=f"blind-{i}")
        for i in range(2 * PER_ENDPOINT)
    ]
    wait_until(lambda: stuck.seen >= PER_ENDPOINT, 30, "the stuck server holding queries")
    error_rate.labels(ns, "web").set(0.5)
    runbook = paramedic.runbook(promql(prometheus.url, f'paramedic_test_error_rate{{namespace="{ns}"}} > 0.1'))
    rem = one_remediation(paramedic, runbook)
    assert rem["spec"]["target"]["name"] == "web"
    # Each stuck query times out after the runbook's 3 s and says so; the server never had more than
    # PER_ENDPOINT queries of ours at once, however many runbooks use it.
    status = wait_until(lambda: (s := runbook_status(paramedic, blind[0])).get("lastError") and s, 60, "a timeout")
    assert "did not answer in time" in status["lastError"]
    wait_until(lambda: len(stuck.open) > PER_ENDPOINT, 60, "queries given up on by the client")
    assert stuck.most_at_once(margin=1.0) <= PER_ENDPOINT
    assert all(remediations(paramedic, b) == [] for b in blind)


class Guarded(LoopbackServer):
    """A Prometheus API that answers one series for a Deployment, only to the right bearer token."""

    def __init__(self, token: str, namespace: str) -> None:
        self.headers: list[str] = []
        guarded = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                given = self.headers.get("Authorization", "")
                guarded.headers.append(given)
                if given != f"Bearer {token}":
                    self.send_response(401)
                    self.end_headers()
                    return
                metric = {"namespace": namespace, "deployment": "api"}
                answer = {
                    "status": "success",
                    "data": {"resultType": "vector", "result": [{"metric": metric, "value": [0, "1"]}]},
                }
                reply_json(self, answer)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)


def token_secret(paramedic: Kit, name: str, labelled: bool) -> None:
    labels = {TOKEN_LABEL: "true"} if labelled else {}
    paramedic.clients.core.create_namespaced_secret(
        paramedic.namespace, {"metadata": {"name": name, "labels": labels}, "stringData": {"token": "s3cr3t\n"}}
    )


def test_a_bearer_token_comes_from_a_labelled_secret_only(paramedic: Kit) -> None:
    server = Guarded("s3cr3t", paramedic.namespace)
    try:
        paramedic.deploy("api", replicas=1)
        token_secret(paramedic, "prom-token", labelled=True)
        token_secret(paramedic, "other-secret", labelled=False)
        unlabelled = paramedic.runbook(
            promql(server.url, "up == 0", bearerToken={"name": "other-secret"}), name="unlabelled"
        )
        status = wait_until(lambda: (s := runbook_status(paramedic, unlabelled)).get("lastError") and s, 30, "refusal")
        assert f"lacks the label {TOKEN_LABEL}=true" in status["lastError"]
        assert "s3cr3t" not in json.dumps(status)
        assert server.headers == []  # nothing was sent without a usable token

        runbook = paramedic.runbook(promql(server.url, "up == 0", bearerToken={"name": "prom-token"}), name="tokened")
        rem = one_remediation(paramedic, runbook)
        assert rem["spec"]["target"]["name"] == "api"
        assert set(server.headers) == {"Bearer s3cr3t"}
        assert remediations(paramedic, unlabelled) == []
    finally:
        server.close()
