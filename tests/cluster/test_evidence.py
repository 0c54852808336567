"""Evidence collectors on the control plane (issue 16): gathered before the first step and after a step that
asks, redacted, capped, stored in a ConfigMap owned by the Remediation; a collector that fails or times out
is recorded and never holds the remediation up."""

from __future__ import annotations

import collections
import contextlib
import ipaddress
import json
import socket
import threading
import time
import typing
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from kubernetes.client import DiscoveryV1Api
from prometheus_client import Gauge

from paramedic.kube import ApiException, Clients
from paramedic_dev import simulate
from paramedic_dev.cluster import DevCluster
from paramedic_dev.objects import fake_node
from tests.cluster.conftest import OPERATOR_NAMESPACE
from tests.cluster.test_cloud import allowed, aws, rds_instance, replication_group
from tests.cluster.test_metric_triggers import error_rate, prometheus  # noqa: F401 (fixtures)
from tests.kit import Kit
from tests.services import Prometheus
from tests.waiting import wait_until

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment"}
#: A restart that needs no verification: the tests are about what is gathered around it.
RESTART = {"rolloutRestart": {}, "verify": {"check": "None"}}
SECRET = "hunter2-s3cr3t-value"


def records(status: dict[str, Any], after: int | None = None) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in status.get("evidence") or [] if r.get("after") == after}


def configmap(clients: Clients, namespace: str, rem: str) -> Any:
    return clients.core.read_namespaced_config_map(f"{rem}-evidence", namespace)


def post_event(clients: Clients, namespace: str, pod: dict[str, Any], message: str) -> None:
    clients.core.create_namespaced_event(
        namespace,
        {
            "metadata": {"generateName": "db-"},
            "involvedObject": {
                "kind": "Pod",
                "name": pod["metadata"]["name"],
                "namespace": namespace,
                "uid": pod["metadata"]["uid"],
            },
            "reason": "DatabaseError",
            "message": message,
            "type": "Warning",
            "count": 1,
            "firstTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "lastTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "source": {"component": "test"},
        },
    )


def test_events_and_summary_of_a_crash_looping_target_are_recorded_and_redacted(paramedic: Kit) -> None:
    core, ns = paramedic.clients.core, paramedic.namespace
    paramedic.deploy("orders", replicas=1)
    pod = paramedic.clients.plain(core.list_namespaced_pod(ns, label_selector="app=orders").items[0])
    simulate.make_crashloop(core, ns, pod["metadata"]["name"], restarts=4, exit_code=3)
    post_event(paramedic.clients, ns, pod, f"connection refused: postgres://app:{SECRET}@db:5432 password={SECRET}")
    runbook = paramedic.runbook(
        {
            "evidence": [
                {"name": "podEvents", "events": {}},
                {"name": "state", "summary": {}},
                {"name": "previousLogs", "logs": {"previous": True, "filter": "(?i)database"}},
            ],
            "steps": [{**RESTART, "collect": ["state"]}],
        }
    )
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "orders"})
    status = paramedic.wait_phase(rem, "Succeeded")

    before = records(status)
    assert set(before) == {"podEvents", "state", "previousLogs"}
    events = before["podEvents"]
    assert events["outcome"] == "Collected"
    assert events["values"]["warnings"] >= 1
    assert "DatabaseError" in events["excerpt"]
    assert SECRET not in events["excerpt"]
    assert "[REDACTED]" in events["excerpt"]
    state = before["state"]
    assert state["outcome"] == "Collected"
    assert state["values"]["restarts"] == 4
    assert state["values"]["lastExitCode"] == 3
    assert state["values"]["ready"] is False
    assert state["values"]["oomKilled"] is False
    assert "CrashLoopBackOff" in state["excerpt"]
    # This Deployment's pods are on KWOK nodes whose kubelet endpoint nobody serves (only logs_node's is):
    # the API server's error is recorded, and nothing waits for it.
    logs = before["previousLogs"]
    assert logs["outcome"] == "Failed"
    assert logs["error"]
    # After the step, only what it lists; gathered once (the step's record ended before it).
    after = records(status, 0)
    assert set(after) == {"state"}
    assert after["state"]["outcome"] == "Collected"
    assert len(status["evidence"]) == 4

    cm = configmap(paramedic.clients, ns, rem)
    owner = cm.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid) == ("Remediation", rem, paramedic.get(rem)["metadata"]["uid"])
    assert set(cm.data) == {"before.podEvents", "before.state", "after-0.state"}
    assert events["detail"] == f"{rem}-evidence/before.podEvents"
    assert all(SECRET not in text for text in cm.data.values())


def test_the_evidence_configmap_goes_with_its_remediation(paramedic: Kit) -> None:
    paramedic.deploy("cart", replicas=1)
    runbook = paramedic.runbook({"evidence": [{"name": "state", "summary": {}}], "steps": [RESTART]})
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "cart"})
    paramedic.wait_phase(rem, "Succeeded")
    assert configmap(paramedic.clients, paramedic.namespace, rem).data["before.state"]
    paramedic.clients.custom.delete_namespaced_custom_object(
        "paramedic.dev", "v1alpha1", paramedic.namespace, "remediations", rem, propagation_policy="Foreground"
    )

    def gone() -> bool:
        try:
            configmap(paramedic.clients, paramedic.namespace, rem)
        except Exception as exc:
            return getattr(exc, "status", None) == 404
        return False

    wait_until(gone, 60, "the ConfigMap garbage-collected with its Remediation")


# -- HTTP ----------------------------------------------------------------------------------------


class Health(BaseHTTPRequestHandler):
    """/health answers 200; /big answers 10 MB with a secret in it; /hang never answers in time."""

    #: Requests seen per path (the restart test counts its gatherings by them).
    seen: typing.ClassVar[collections.Counter[str]] = collections.Counter()
    arrived = threading.Event()

    def do_GET(self) -> None:
        Health.seen[self.path] += 1
        if self.path == "/hang-restart":
            Health.arrived.set()
        if self.path.startswith("/hang"):
            time.sleep(8)
        body = b"ok database=up token=" + SECRET.encode() if self.path == "/health" else b""
        if self.path == "/big":
            line = f"row password={SECRET} " + "x" * 100 + "\n"
            body = line.encode() * (10 * 1024 * 1024 // len(line))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def host_address() -> str:
    """This machine's own non-loopback IPv4 address: an EndpointSlice may not name loopback (the API server
    refuses it), and the control plane has no kube-proxy behind ClusterIPs."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route's source address
        address: str = probe.getsockname()[0]
    if ipaddress.ip_address(address).is_loopback or ipaddress.ip_address(address).is_link_local:
        pytest.skip("no non-loopback IPv4 address to serve the Service's endpoint on")
    return address


@pytest.fixture(scope="module")
def health() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer((host_address(), 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def service_at(clients: Clients, namespace: str, ip: str, port: int) -> str:
    """A Service without a selector whose endpoint an admin set by hand (loopback here: the control plane
    has no kube-proxy, and the test's server listens on 127.0.0.1)."""
    name = f"svc-{uuid.uuid4().hex[:6]}"
    clients.core.create_namespaced_service(
        namespace, {"metadata": {"name": name}, "spec": {"ports": [{"name": "http", "port": 80}]}}
    )
    DiscoveryV1Api(clients.api_client).create_namespaced_endpoint_slice(
        namespace,
        {
            "metadata": {"name": name, "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        },
    )
    return name


def test_http_evidence_of_a_service_is_capped_redacted_and_a_slow_one_times_out(
    paramedic: Kit, health: ThreadingHTTPServer
) -> None:
    ns = paramedic.namespace
    paramedic.deploy("router", replicas=1)
    service = service_at(paramedic.clients, ns, health.server_address[0], health.server_port)
    ops = paramedic.at(OPERATOR_NAMESPACE)
    runbook = paramedic.cluster_runbook(
        {
            "allowedNamespaces": allowed(paramedic),
            "evidence": [
                {"name": "health", "http": {"service": service, "namespace": ns, "port": 80, "path": "/health"}},
                {"name": "big", "http": {"service": service, "namespace": ns, "port": 80, "path": "/big"}},
                {
                    "name": "slow",
                    "timeout": "1s",
                    "http": {"service": service, "namespace": ns, "port": 80, "path": "/hang"},
                },
            ],
            "steps": [RESTART],
        }
    )
    rem = ops.remediation(runbook, {**DEPLOYMENT, "name": "router", "namespace": ns}, kind="ClusterRunbook")
    status = ops.wait_phase(rem, "Succeeded", timeout=90)
    found = records(status)
    assert found["health"]["outcome"] == "Collected"
    assert found["health"]["values"]["statusCode"] == 200
    assert found["health"]["values"]["ok"] is True
    assert found["health"]["excerpt"].startswith("ok database=up token=[REDACTED]")
    big = found["big"]
    assert big["outcome"] == "Collected"
    assert len(big["excerpt"].encode()) <= 1024
    text = configmap(paramedic.clients, OPERATOR_NAMESPACE, rem).data["before.big"]
    assert 0 < len(text.encode()) <= 64 * 1024  # the operator's default per-item cap
    assert SECRET not in text
    assert SECRET not in big["excerpt"]
    assert found["slow"]["outcome"] == "TimedOut"
    assert status["steps"][0]["phase"] == "Succeeded"


def test_link_local_and_metadata_addresses_are_refused(paramedic: Kit) -> None:
    """The API server keeps link-local addresses out of EndpointSlices; an admin's Prometheus URL can still
    name one, and the guarded egress refuses it."""
    ns = paramedic.namespace
    paramedic.deploy("meta", replicas=1)
    ops = paramedic.at(OPERATOR_NAMESPACE)
    runbook = paramedic.cluster_runbook(
        {
            "allowedNamespaces": allowed(paramedic),
            "evidence": [
                {"name": "imds", "promql": {"url": "http://169.254.169.254/", "query": "up"}},
                {"name": "linkLocal", "promql": {"url": "http://[fe80::1]:9090/", "query": "up"}},
            ],
            "steps": [RESTART],
        }
    )
    rem = ops.remediation(runbook, {**DEPLOYMENT, "name": "meta", "namespace": ns}, kind="ClusterRunbook")
    found = records(ops.wait_phase(rem, "Succeeded", timeout=60))
    for name in ("imds", "linkLocal"):
        assert found[name]["outcome"] == "Failed"
        assert "link-local or cloud metadata" in found[name]["error"]


def test_a_tenant_cannot_declare_promql_aws_or_another_namespace(tenant: Kit) -> None:
    """What would read beyond the namespace with the operator's powers is the admins': the API server refuses
    it in a Runbook, as the tenant sends it."""
    for collector in (
        {"promql": {"query": "up"}},
        {"aws": {"rdsInstance": "orders"}},
    ):
        with pytest.raises(ApiException) as refused:
            tenant.runbook({"evidence": [{"name": "x", **collector}], "steps": [RESTART]})
        assert refused.value.status == 422
        assert "a collector sets exactly one of logs, events, summary, http" in str(refused.value.body)


def test_a_tenant_service_reaches_only_its_own_pods(tenant: Kit, paramedic: Kit, health: ThreadingHTTPServer) -> None:
    """A namespaced Runbook's http collector does not follow a hand-written endpoint: it could name any
    address the operator reaches and the tenant's pods do not."""
    service = service_at(paramedic.clients, tenant.namespace, health.server_address[0], health.server_port)
    paramedic.deploy("shop", replicas=1)
    runbook = tenant.runbook(
        {"evidence": [{"name": "health", "http": {"service": service, "port": 80}}], "steps": [RESTART]}
    )
    status = tenant.wait_phase(tenant.remediation(runbook, {**DEPLOYMENT, "name": "shop"}), "Succeeded")
    found = records(status)["health"]
    assert found["outcome"] == "Failed"
    assert "no ready endpoint" in found["error"]


# -- PromQL and AWS ----------------------------------------------------------------------------------


def scraped(server: Prometheus, query: str) -> bool:
    url = f"{server.url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as response:
        return bool(json.loads(response.read())["data"]["result"])


def test_promql_evidence_from_the_real_prometheus(
    paramedic: Kit,
    prometheus: Prometheus,  # noqa: F811
    error_rate: Gauge,  # noqa: F811
) -> None:
    ns = paramedic.namespace
    error_rate.labels(ns, "api").set(0.25)
    query = f'paramedic_test_error_rate{{namespace="{ns}",deployment="api"}}'
    wait_until(lambda: scraped(prometheus, query), 60, "Prometheus scraped the error rate")
    paramedic.deploy("api", replicas=1)
    ops = paramedic.at(OPERATOR_NAMESPACE)
    runbook = paramedic.cluster_runbook(
        {
            "allowedNamespaces": allowed(paramedic),
            "evidence": [
                {"name": "errorRate", "promql": {"url": prometheus.url, "query": query}},
                {"name": "errorSeries", "promql": {"url": prometheus.url, "query": query, "range": "1m", "step": "5s"}},
                {"name": "nothing", "promql": {"url": prometheus.url, "query": 'absent_metric_xyz{a="b"}'}},
            ],
            "steps": [RESTART],
        }
    )
    rem = ops.remediation(runbook, {**DEPLOYMENT, "name": "api", "namespace": ns}, kind="ClusterRunbook")
    found = records(ops.wait_phase(rem, "Succeeded", timeout=60))
    assert found["errorRate"]["values"] == {"value": 0.25, "samples": 1}
    assert found["errorSeries"]["values"]["value"] == 0.25
    assert 1 <= found["errorSeries"]["values"]["samples"] <= 13  # at most one sample per 5 s step over 1 m
    assert found["nothing"]["outcome"] == "Collected"
    assert found["nothing"]["values"] == {"samples": 0}


def test_aws_evidence_describes_an_rds_instance_and_a_replication_group(paramedic: Kit, moto_server: str) -> None:
    db = rds_instance(aws("rds", moto_server), MultiAZ=True)
    cache = aws("elasticache", moto_server)
    group = replication_group(cache, 2)
    paramedic.deploy("orders-db-api", replicas=1)
    ns = paramedic.namespace
    ops = paramedic.at(OPERATOR_NAMESPACE)
    runbook = paramedic.cluster_runbook(
        {
            "allowedNamespaces": allowed(paramedic),
            "evidence": [
                {"name": "database", "aws": {"rdsInstance": db}},
                {"name": "missing", "aws": {"rdsInstance": "no-such-db"}},
                {"name": "sessions", "aws": {"elasticacheReplicationGroup": group}},
            ],
            "steps": [RESTART],
        }
    )
    rem = ops.remediation(runbook, {**DEPLOYMENT, "name": "orders-db-api", "namespace": ns}, kind="ClusterRunbook")
    found = records(ops.wait_phase(rem, "Succeeded", timeout=60))
    assert found["database"]["outcome"] == "Collected", found["database"]
    values = found["database"]["values"]
    assert (values["status"], values["multiAZ"]) == ("available", True)
    # moto implements no describe_pending_maintenance_actions: the figure is left out, and the text says why.
    assert values.get("pendingMaintenance", 0) == 0
    assert db in found["database"]["excerpt"]
    assert found["missing"]["outcome"] == "Failed", found["missing"]
    assert "DBInstanceNotFound" in found["missing"]["error"]
    assert found["sessions"]["outcome"] == "Collected", found["sessions"]
    members = cache.describe_replication_groups(ReplicationGroupId=group)["ReplicationGroups"][0]["MemberClusters"]
    assert found["sessions"]["values"] == {"status": "available", "members": len(members)}
    assert all(member in found["sessions"]["excerpt"] for member in members)


@pytest.fixture
def logs_node(clients: Clients, cluster: DevCluster) -> Iterator[str]:
    """A KWOK node whose kubelet endpoint is KWOK's own server (localhost, HTTPS): the API server fetches
    its pods' logs from there, and KWOK serves the files of ``cluster.pod_logs_dir``. Deleted after the
    test, so that tests counting nodes see only the cluster's own."""
    name = f"kwok-logs-{uuid.uuid4().hex[:6]}"
    clients.core.create_node(fake_node(name))
    status = {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": "localhost"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": cluster.kwok_port}},
    }

    def served() -> bool:
        clients.core.patch_node_status(name, {"status": status})
        node = clients.core.read_node(name)
        ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
        return ready and node.status.daemon_endpoints.kubelet_endpoint.port == cluster.kwok_port

    try:
        wait_until(served, 60, f"node {name} Ready with KWOK as its kubelet endpoint")
        yield name
    finally:
        clients.core.delete_node(name)


def pod_on(clients: Clients, namespace: str, node: str) -> str:
    name = f"worker-{uuid.uuid4().hex[:6]}"
    clients.core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": name},
            "spec": {
                "nodeName": node,
                "tolerations": [{"operator": "Exists"}],
                "containers": [{"name": "app", "image": "registry.invalid/app:1"}],
            },
        },
    )
    wait_until(
        lambda: clients.core.read_namespaced_pod(name, namespace).status.phase == "Running", 60, f"pod {name} Running"
    )
    return name


def cri(lines: list[str]) -> str:
    """Lines in the CRI log format the kubelet (here KWOK) reads."""
    return "".join(f"2026-11-25T10:00:{i % 60:02d}.000000000Z stdout F {line}\n" for i, line in enumerate(lines))


def test_logs_of_a_container_and_of_its_previous_run(paramedic: Kit, cluster: DevCluster, logs_node: str) -> None:
    pod = pod_on(paramedic.clients, paramedic.namespace, logs_node)
    current = [f"GET /orders {i} ok" if i % 25 else f"ERROR database timeout password={SECRET}" for i in range(300)]
    (cluster.pod_logs_dir / "current.log").write_text(cri(current))
    (cluster.pod_logs_dir / "previous.log").write_text(cri(["starting", f"panic: no database token={SECRET}"]))
    runbook = paramedic.runbook(
        {
            "evidence": [
                {"name": "current", "logs": {"container": "app", "tailLines": 100, "filter": "(?i)database"}},
                {"name": "crashed", "logs": {"container": "app", "previous": True}},
                {"name": "unknown", "logs": {"container": "sidecar"}},
            ],
            "steps": [{"deletePod": {}}],
        }
    )
    status = paramedic.wait_phase(paramedic.remediation(runbook, {"kind": "Pod", "name": pod}), "Succeeded")
    found = records(status)
    assert found["current"]["outcome"] == "Collected", found["current"]
    assert found["current"]["values"]["lines"] == 100
    assert found["current"]["values"]["matches"] == 4  # lines 200, 225, 250, 275
    assert found["current"]["excerpt"].count("ERROR database timeout password=[REDACTED]") == 4
    assert found["crashed"]["outcome"] == "Collected", found["crashed"]
    assert found["crashed"]["excerpt"] == "starting\npanic: no database token=[REDACTED]"
    assert found["unknown"]["outcome"] == "Failed"
    assert "container sidecar is not valid" in found["unknown"]["error"]
    assert all(SECRET not in r["excerpt"] for r in found.values())


def test_ten_megabytes_of_logs_yield_at_most_the_cap(paramedic: Kit, cluster: DevCluster, logs_node: str) -> None:
    pod = pod_on(paramedic.clients, paramedic.namespace, logs_node)
    line = "x" * 10_000 + f" password={SECRET}"
    (cluster.pod_logs_dir / "current.log").write_text(cri([line] * 1000))  # 10 MB
    runbook = paramedic.runbook(
        {
            "evidence": [{"name": "flood", "logs": {"tailLines": 1000, "maxBytes": 1048576}}],
            "steps": [{"deletePod": {}}],
        }
    )
    rem = paramedic.remediation(runbook, {"kind": "Pod", "name": pod})
    flood = records(paramedic.wait_phase(rem, "Succeeded"))["flood"]
    assert flood["outcome"] == "Collected", flood
    assert flood["values"]["truncated"] is True
    assert 0 < flood["values"]["bytes"] <= 64 * 1024  # the operator's per-item cap (lower than maxBytes)
    text = configmap(paramedic.clients, paramedic.namespace, rem).data["before.flood"]
    assert len(text.encode()) <= 64 * 1024
    assert len(flood["excerpt"].encode()) <= 1024
    assert SECRET not in text


def test_a_gathering_cut_short_by_the_operators_death_is_done_again_once(
    paramedic: Kit, health: ThreadingHTTPServer
) -> None:
    """Killed while a collector waits, the operator had recorded nothing: the new one gathers again, records
    one set, and the step runs once."""
    ns = paramedic.namespace
    paramedic.deploy("search", replicas=1)
    service = service_at(paramedic.clients, ns, health.server_address[0], health.server_port)
    ops = paramedic.at(OPERATOR_NAMESPACE)
    runbook = paramedic.cluster_runbook(
        {
            "allowedNamespaces": allowed(paramedic),
            "evidence": [
                {"name": "state", "summary": {}},
                {
                    "name": "slow",
                    "timeout": "4s",
                    "http": {"service": service, "namespace": ns, "port": 80, "path": "/hang-restart"},
                },
            ],
            "steps": [RESTART],
        }
    )
    Health.arrived.clear()
    rem = ops.remediation(runbook, {**DEPLOYMENT, "name": "search", "namespace": ns}, kind="ClusterRunbook")
    assert Health.arrived.wait(60), "the gathering reached the slow collector"
    before = Health.seen["/hang-restart"]
    paramedic.operator.kill()
    paramedic.operator.start_and_wait()
    status = ops.wait_phase(rem, "Succeeded", timeout=90)
    assert Health.seen["/hang-restart"] == before + 1  # gathered again, once
    assert sorted(r["name"] for r in status["evidence"]) == ["slow", "state"]
    assert records(status)["slow"]["outcome"] == "TimedOut"
    assert status["steps"][0]["attempts"] == 1
