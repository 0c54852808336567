"""The Paintbox seed procedure P1 as written in examples/ (the team's runbook-p1-high-error-rate.yaml and the
admins' clusterrunbook-p1-database.yaml), driven by their PromQL trigger in a real Prometheus: a subgraph whose
logs hold database errors takes the database branch (RDS snapshot and reboot on moto's server), one without
takes the restart branch; the evidence recorded and the steps Skipped or Succeeded are asserted.

Apart from test_seed_investigation.py (P0, P2), whose fixtures it shares, to keep both under 400 lines."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from paramedic.api.common import GROUP, VERSION
from paramedic.kube import ApiException
from paramedic_dev import simulate
from paramedic_dev.cluster import DevCluster
from paramedic_dev.install import OperatorProcess
from tests.cluster.conftest import OPERATOR_NAMESPACE
from tests.cluster.test_cloud import aws, rds_instance
from tests.cluster.test_evidence import cri, health, logs_node, records  # noqa: F401  (fixtures)
from tests.cluster.test_seed_examples import EXAMPLES, _no_freeze, replace_live
from tests.cluster.test_seed_investigation import ENDED, paintbox, paintbox_traffic, running, steps  # noqa: F401
from tests.kit import deployment
from tests.waiting import wait_until


@contextlib.contextmanager
def subgraph(clients: Any, name: str, node: str) -> Iterator[None]:
    """A subgraph Deployment whose pod runs on ``node`` (the KWOK node that serves logs), tolerating its taints.
    Removed afterwards with the P1 Remediations of it: the storm breaker counts a runbook's recent Remediations
    over its targets, and the next test's subgraph would otherwise be the second of three failing at once."""
    body = deployment(name, 1, image="registry.invalid/sg:1", node_selector={"kubernetes.io/hostname": node})
    body["spec"]["template"]["spec"]["tolerations"] = [{"operator": "Exists"}]
    clients.apps.create_namespaced_deployment("paintbox", body)
    try:
        yield
    finally:
        # The error rate is a 5m rate: it stays above 10 % after the traffic stops, so the triggers would fire
        # again for every Remediation deleted. Disarm them first (the next test's arm_p1 puts the query back).
        never = {"spec": {"trigger": {"prometheus": {"query": "vector(0) > 1"}}}}
        clients.custom.patch_namespaced_custom_object(
            GROUP, VERSION, "paintbox", "runbooks", "p1-high-error-rate", never
        )
        clients.custom.patch_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", "p1-database", never)

        def gone() -> bool:
            """Delete what is left, including one created before the triggers saw the change."""
            left = of_p1(clients, name, "p1-high-error-rate") + of_p1(clients, name, "p1-database")
            for rem in left:
                meta = rem["metadata"]
                with contextlib.suppress(Exception):
                    clients.custom.delete_namespaced_custom_object(
                        GROUP, VERSION, meta["namespace"], "remediations", meta["name"]
                    )
            return not left

        wait_until(gone, 60, f"the P1 Remediations of {name} to be gone")
        clients.apps.delete_namespaced_deployment(name, "paintbox")


def serve_health(clients: Any, pod: str, server: ThreadingHTTPServer) -> None:
    """The subgraph's Service, its endpoint the test's health server: the pod is given the server's address as
    its IP (KWOK's pod IPs lead nowhere) and named by the EndpointSlice, as a namespaced Runbook requires."""
    from kubernetes.client import DiscoveryV1Api

    ip, port = server.server_address[0], server.server_port
    addresses = [
        {"op": "replace", "path": "/status/podIP", "value": ip},
        {"op": "replace", "path": "/status/podIPs", "value": [{"ip": ip}]},
    ]
    clients.core.patch_namespaced_pod_status(pod, "paintbox", addresses)  # a JSON patch: the list replaced
    clients.core.create_namespaced_service(
        "paintbox", {"metadata": {"name": "paintings-subgraph"}, "spec": {"ports": [{"name": "http", "port": 80}]}}
    )
    DiscoveryV1Api(clients.api_client).create_namespaced_endpoint_slice(
        "paintbox",
        {
            "metadata": {"name": "paintings-subgraph", "labels": {"kubernetes.io/service-name": "paintings-subgraph"}},
            "addressType": "IPv4",
            "endpoints": [
                {
                    "addresses": [ip],
                    "conditions": {"ready": True},
                    "targetRef": {"kind": "Pod", "name": pod, "namespace": "paintbox"},
                }
            ],
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        },
    )


#: p1-database's policy in these tests (a ClusterRunbook's policy lives in the operator's namespace).
P1_POLICY = "p1-seed-tests"


@pytest.fixture
def p1_policies(clients: Any) -> None:
    """The example policies as these tests need them: no Friday freeze (_no_freeze) and no storm breaker."""
    _no_freeze(clients)
    _no_breaker(clients)


def _no_breaker(clients: Any) -> None:
    """These tests fail one subgraph after another under the same runbooks within the breaker's window, which
    the storm breaker rightly counts as subgraphs failing at once (its own tests are test_safety's): the team's
    policy without it, and p1-database under a policy of its own without it (not the session's default)."""
    off = {"stormBreaker": {"enabled": False}}
    clients.custom.patch_namespaced_custom_object(
        GROUP, VERSION, "paintbox", "ratelimitpolicies", "paintbox", {"spec": off}
    )
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RateLimitPolicy", "metadata": {"name": P1_POLICY}, "spec": off}
    with contextlib.suppress(ApiException):  # made by the first test
        clients.custom.create_namespaced_custom_object(GROUP, VERSION, OPERATOR_NAMESPACE, "ratelimitpolicies", body)


def of_p1(clients: Any, subgraph: str, runbook: str) -> list[dict[str, Any]]:
    """The Remediations ``runbook`` (P1's Runbook or ClusterRunbook) made for ``subgraph``."""
    found = clients.custom.list_cluster_custom_object(
        GROUP, VERSION, "remediations", label_selector=f"paramedic.dev/runbook={runbook}"
    )["items"]
    return [r for r in found if r["spec"]["target"]["name"] == subgraph]


@contextlib.contextmanager
def failing(requests: Any, subgraph: str) -> Iterator[None]:
    """30 % of ``subgraph``'s requests fail while inside; the router is fine."""
    stop = threading.Event()

    def traffic() -> None:
        while not stop.wait(0.2):
            requests.labels("paintbox", subgraph, "500").inc(3)
            requests.labels("paintbox", subgraph, "200").inc(7)
            requests.labels("paintbox", "apollo-router", "200").inc(10)

    threading.Thread(target=traffic, daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def arm_p1(clients: Any, url: str, moto_server: str) -> None:
    """Both P1 examples as written, pointed at the test's Prometheus with a short "for" (they say 2m), and the
    RDS instance p1-database acts on, in moto."""
    team = yaml.safe_load((EXAMPLES / "paintbox" / "runbook-p1-high-error-rate.yaml").read_text())
    team["spec"]["trigger"]["prometheus"].update({"url": url, "for": "2s", "interval": "1s"})
    replace_live(clients, "runbooks", team)
    admins = yaml.safe_load((EXAMPLES / "paintbox" / "clusterrunbook-p1-database.yaml").read_text())
    admins["spec"]["trigger"]["prometheus"].update({"url": url, "for": "2s", "interval": "1s"})
    admins["spec"]["rateLimitPolicyRef"] = {"name": P1_POLICY}
    next(e for e in admins["spec"]["evidence"] if e["name"] == "errorRate")["promql"]["url"] = url
    live = clients.custom.get_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", "p1-database")
    admins["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
    clients.custom.replace_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", "p1-database", admins)
    rds = aws("rds", moto_server)
    with contextlib.suppress(rds.exceptions.DBInstanceAlreadyExistsFault):
        rds_instance(rds, name="paintbox-db", MultiAZ=True)


def both_p1(clients: Any, subgraph: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ended Remediations of the team's P1 runbook and of p1-database for ``subgraph``."""

    team = wait_until(lambda: of_p1(clients, subgraph, "p1-high-error-rate"), 90, "the P1 runbook to fire")
    admins = wait_until(lambda: of_p1(clients, subgraph, "p1-database"), 90, "p1-database to fire")
    assert len(team) == len(admins) == 1
    return ended(clients, team[0]), ended(clients, admins[0])


def ended(clients: Any, rem: dict[str, Any]) -> dict[str, Any]:
    """The status of ``rem`` once it has ended; on a time-out, the error says the status it was left in."""
    namespace, name = rem["metadata"]["namespace"], rem["metadata"]["name"]
    last: dict[str, Any] = {}

    def reached() -> dict[str, Any] | None:
        last.clear()
        last.update(
            clients.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "remediations", name).get("status")
            or {}
        )
        return dict(last) if last.get("phase") in ENDED else None

    try:
        return wait_until(reached, 120, f"{namespace}/{name} to end")
    except AssertionError as timed_out:
        raise AssertionError(f"{timed_out}; status: {last}") from None


@pytest.mark.usefixtures("paintbox", "p1_policies")
def test_p1_without_database_errors_restarts_the_subgraph_then_scales_the_router(
    clients: Any,
    cluster: DevCluster,
    logs_node: str,  # noqa: F811
    operator: OperatorProcess,
    moto_server: str,
    paintbox_traffic: tuple[str, Any],  # noqa: F811
    health: ThreadingHTTPServer,  # noqa: F811
) -> None:
    """Error lines, none about the database: the team's runbook restarts the subgraph and scales the router;
    p1-database records what it saw and skips both of its steps."""
    url, requests = paintbox_traffic
    with subgraph(clients, "paintings-subgraph", logs_node):
        (pod,) = running(clients, "paintings-subgraph", 1)
        serve_health(clients, pod, health)
        lines = [
            f"GET /graphql {i} 200" if i % 10 else "ERROR resolver paintings.title: null value" for i in range(100)
        ]
        (cluster.pod_logs_dir / "current.log").write_text(cri(lines))
        arm_p1(clients, url, moto_server)
        with failing(requests, "paintings-subgraph"):
            team, admins = both_p1(clients, "paintings-subgraph")
        assert team["phase"] == "Succeeded", team["message"]
        assert [(s["action"], s["target"]["name"], s["phase"]) for s in team["steps"]] == [
            ("rolloutRestart", "paintings-subgraph", "Succeeded"),
            ("scale", "apollo-router", "Succeeded"),
        ]
        seen = records(team)
        assert set(seen) == {
            "subgraphLogs",
            "dbErrors",
            "subgraphEvents",
            "subgraphPods",
            "paintingsHealth",
            "searchHealth",
        }
        assert seen["subgraphLogs"]["values"]["matches"] == 10
        assert "ERROR resolver paintings.title: null value" in seen["subgraphLogs"]["excerpt"]
        assert (seen["dbErrors"]["outcome"], seen["dbErrors"]["values"]["matches"]) == ("Collected", 0)
        assert seen["subgraphPods"]["values"]["ready"] is True
        assert (seen["paintingsHealth"]["outcome"], seen["paintingsHealth"]["values"]["statusCode"]) == (
            "Collected",
            200,
        )
        assert seen["paintingsHealth"]["excerpt"].startswith("ok database=up token=[REDACTED]")
        assert seen["searchHealth"]["outcome"] == "Failed"  # no search subgraph in this test
        assert clients.apps.read_namespaced_deployment("apollo-router", "paintbox").spec.replicas == 5
        # The admins' database branch saw the same logs and did nothing.
        assert admins["phase"] == "Succeeded", admins["message"]
        assert steps(admins) == [("snapshot", "Skipped"), ("reboot database", "Skipped")]
        assert all(s["reason"] == "WhenNotMet" for s in admins["steps"])
        assert "evidence.dbErrors.matches=0" in admins["steps"][0]["message"]
        assert records(admins)["errorRate"]["values"]["value"] == pytest.approx(
            0.15, abs=0.05
        )  # 3 in 20: the subgraph 30 %, the router none


@pytest.mark.usefixtures("paintbox", "p1_policies")
def test_p1_database_errors_in_the_logs_snapshot_and_reboot_the_rds_instance(
    clients: Any,
    cluster: DevCluster,
    logs_node: str,  # noqa: F811
    operator: OperatorProcess,
    moto_server: str,
    paintbox_traffic: tuple[str, Any],  # noqa: F811
) -> None:
    """A crash-looping subgraph whose logs say the database refuses connections: the team's runbook skips its
    restart and scale; p1-database records the RDS instance, snapshots it and reboots it (moto's server)."""
    url, requests = paintbox_traffic
    with subgraph(clients, "search-subgraph", logs_node):
        (pod,) = running(clients, "search-subgraph", 1)
        simulate.make_crashloop(clients.core, "paintbox", pod, restarts=2)
        secret = "hunter2-p1-db"
        lines = ["starting search-subgraph"] + [
            f"ERROR database connection refused: postgres://search:{secret}@paintbox-db:5432/search" for _ in range(5)
        ]
        (cluster.pod_logs_dir / "current.log").write_text(cri(lines))
        arm_p1(clients, url, moto_server)
        rds = aws("rds", moto_server)
        snapshots_before = len(rds.describe_db_snapshots(DBInstanceIdentifier="paintbox-db")["DBSnapshots"])
        replicas = clients.apps.read_namespaced_deployment("apollo-router", "paintbox").spec.replicas
        with failing(requests, "search-subgraph"):
            team, admins = both_p1(clients, "search-subgraph")
        # The team's branch not taken: nothing restarted, the router left as it was.
        assert team["phase"] == "Succeeded", team["message"]
        assert steps(team) == [("restart subgraph", "Skipped"), ("scale router to 5", "Skipped")]
        assert "evidence.dbErrors.matches=5" in team["steps"][0]["message"]
        assert clients.apps.read_namespaced_deployment("apollo-router", "paintbox").spec.replicas == replicas
        # The database branch: evidence first, then snapshot and reboot.
        assert admins["phase"] == "Succeeded", admins["message"]
        assert steps(admins) == [("snapshot", "Succeeded"), ("reboot database", "Succeeded")]
        seen = records(admins)
        assert seen["dbErrors"]["values"]["matches"] == 5
        assert "ERROR database connection refused" in seen["dbErrors"]["excerpt"]
        assert secret not in seen["dbErrors"]["excerpt"]
        assert seen["paintboxDb"]["values"]["status"] == "available"
        assert seen["paintboxDb"]["values"]["multiAZ"] is True
        assert seen["errorRate"]["values"]["value"] == pytest.approx(
            0.15, abs=0.05
        )  # 3 in 20: the subgraph 30 %, the router none
        assert records(admins, after=1)["paintboxDb"]["outcome"] == "Collected"
        snapshot = admins["steps"][0]["changes"]["snapshot"]
        snapshots = rds.describe_db_snapshots(DBInstanceIdentifier="paintbox-db")["DBSnapshots"]
        assert len(snapshots) == snapshots_before + 1
        assert snapshot in [s["DBSnapshotIdentifier"] for s in snapshots]
        assert admins["steps"][1]["changes"]["requested"] is True
