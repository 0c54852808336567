"""The seed examples' investigation (issue 16, item 5), end to end on the control plane: the crash loop reads
the crashed run's logs and takes the rollback branch only when they show a config or database error; the OOM
runbook records the memory series of the real Prometheus before it raises the limit; node pressure records the
node's conditions and the top pods before it cordons and drains.

Each test runs the example file itself, moved into the test's namespace (and pointed at the test's Prometheus,
since the suite's operator has no --prometheus-url); the files through their own triggers in paintbox are
test_seed_examples.py's."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from paramedic.api.common import GROUP, VERSION
from paramedic.kube import Clients
from paramedic_dev import simulate
from paramedic_dev.cluster import DevCluster
from paramedic_dev.objects import fake_node
from tests.cluster.conftest import OPERATOR_NAMESPACE
from tests.cluster.test_evidence import cri, logs_node, records  # noqa: F401 (logs_node: a fixture)
from tests.kit import Kit, deployment
from tests.services import Prometheus
from tests.waiting import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SECRET = "s3cr3t-db-pass"
GOOD = "registry.invalid/apollographql/router:v1.57.1"
BAD = "registry.invalid/apollographql/router:v1.58.0"
MEMORY = 250 * 2**20  # the working set the exporter reports for the OOM-killed pod


def example(path: str, name: str) -> dict[str, Any]:
    """The spec of the paramedic object ``name`` in ``examples/<path>``."""
    for doc in yaml.safe_load_all((EXAMPLES / path).read_text()):
        if doc and doc["metadata"]["name"] == name:
            spec: dict[str, Any] = doc["spec"]
            return spec
    raise AssertionError(f"{name} is not in examples/{path}")


def fired(kit: Kit, runbook: str) -> str:
    """The Remediation the runbook's trigger created in the kit's namespace."""

    def found() -> str | None:
        items = kit.clients.custom.list_namespaced_custom_object(
            GROUP, VERSION, kit.namespace, "remediations", label_selector=f"paramedic.dev/runbook={runbook}"
        )["items"]
        return str(items[0]["metadata"]["name"]) if items else None

    return wait_until(found, 60, f"the trigger of {runbook} to fire")


def armed(kit: Kit, name: str, cluster: bool = False) -> None:
    """Wait until the operator has indexed the runbook's trigger: a symptom before that would find no runbook."""

    def kind() -> Any:
        if cluster:
            obj = kit.clients.custom.get_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", name)
        else:
            obj = kit.clients.custom.get_namespaced_custom_object(GROUP, VERSION, kit.namespace, "runbooks", name)
        return (obj.get("status") or {}).get("triggerKind")

    wait_until(kind, 30, f"the trigger of {name} to be armed")


def pods(clients: Clients, namespace: str, app: str) -> list[Any]:
    return [
        p
        for p in clients.core.list_namespaced_pod(namespace, label_selector=f"app={app}").items
        if p.status.phase == "Running" and not p.metadata.deletion_timestamp
    ]


# -- crash loop ------------------------------------------------------------------------------------


def crash_looping_router(paramedic: Kit, cluster: DevCluster, node: str, previous: list[str]) -> str:
    """apollo-router on the node whose logs KWOK serves, at its second release (so there is one to roll back
    to), its pod crash-looping with ``previous`` as the crashed run's logs; the example runbook in the
    test's namespace, without the paintbox team's policy references. Returns the runbook's name."""
    (cluster.pod_logs_dir / "previous.log").write_text(cri(previous))
    (cluster.pod_logs_dir / "current.log").write_text(cri(["starting"]))
    ns = paramedic.namespace
    body = deployment("apollo-router", 1, image=GOOD, node_selector={"kubernetes.io/hostname": node})
    paramedic.clients.apps.create_namespaced_deployment(ns, body)
    paramedic.wait_rolled_out("apollo-router", 1)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": BAD}]}}}}
    paramedic.clients.apps.patch_namespaced_deployment("apollo-router", ns, patch)
    paramedic.wait_rolled_out("apollo-router", 1)
    spec = example("paintbox/runbook-restart-router.yaml", "restart-router")
    del spec["escalationPolicyRef"]
    runbook = paramedic.runbook(spec)
    armed(paramedic, runbook)
    wait_until(lambda: len(pods(paramedic.clients, ns, "apollo-router")) == 1, 60, "one running router pod")
    pod = pods(paramedic.clients, ns, "apollo-router")[0]
    simulate.make_crashloop(paramedic.clients.core, ns, pod.metadata.name, restarts=4, exit_code=2)
    return runbook


def test_crash_loop_with_a_database_error_in_the_crashed_logs_rolls_back_instead_of_restarting(
    paramedic: Kit,
    cluster: DevCluster,
    logs_node: str,  # noqa: F811
) -> None:
    previous = [
        "router v1.58.0 starting",
        f"ERROR subgraph products: database connection refused (postgres://router:{SECRET}@db:5432)",
        "FATAL giving up after 3 attempts",
    ]
    runbook = crash_looping_router(paramedic, cluster, logs_node, previous)
    rem = fired(paramedic, runbook)
    status = paramedic.wait_phase(rem, "Succeeded", timeout=120)

    assert [(s["name"], s["phase"]) for s in status["steps"]] == [("restart", "Skipped"), ("roll back", "Succeeded")]
    skipped = status["steps"][0]
    assert skipped["reason"] == "WhenNotMet"
    assert "evidence.configOrDatabase.matches=1" in skipped["message"], skipped["message"]
    image = paramedic.deployment("apollo-router")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == GOOD

    before = records(status)
    assert before["crashErrors"]["outcome"] == "Collected", before["crashErrors"]
    assert before["crashErrors"]["values"]["matches"] == 2  # the ERROR and the FATAL line
    assert before["configOrDatabase"]["values"]["matches"] == 1
    assert "database connection refused" in before["crashErrors"]["excerpt"]
    state = before["state"]["values"]
    assert (state["restarts"], state["lastExitCode"], state["lastReason"]) == (4, 2, "Error")
    assert set(records(status, 1)) == {"state"}  # gathered again once the rollback was verified
    detail = paramedic.clients.core.read_namespaced_config_map(f"{rem}-evidence", paramedic.namespace).data
    assert "FATAL giving up after 3 attempts" in detail["before.crashErrors"]
    assert "CrashLoopBackOff" in detail["before.state"]
    assert all(SECRET not in text for text in detail.values())


def test_crash_loop_without_a_config_or_database_error_restarts(
    paramedic: Kit,
    cluster: DevCluster,
    logs_node: str,  # noqa: F811
) -> None:
    previous = ["router v1.58.0 starting", "panic: runtime error: index out of range [3] with length 3"]
    runbook = crash_looping_router(paramedic, cluster, logs_node, previous)
    status = paramedic.wait_phase(fired(paramedic, runbook), "Succeeded", timeout=120)

    # UntilVerified: the restart is verified, so the rollback is never reached.
    assert [(s["name"], s["phase"]) for s in status["steps"]] == [("restart", "Succeeded")]
    image = paramedic.deployment("apollo-router")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == BAD
    before = records(status)
    assert before["crashErrors"]["values"]["matches"] == 1
    assert "panic: runtime error" in before["crashErrors"]["excerpt"]
    assert before["configOrDatabase"]["outcome"] == "Collected"
    assert before["configOrDatabase"]["values"]["matches"] == 0
    assert before["state"]["values"]["restarts"] == 4


# -- the real Prometheus: memory and CPU of pods ----------------------------------------------------


@pytest.fixture(scope="module")
def usage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prometheus, Gauge, Counter]]:
    """A real Prometheus scraping an exporter of the cAdvisor series the examples query (honour_labels keeps
    the exporter's namespace, pod and node)."""
    registry = CollectorRegistry()
    labels = ["namespace", "pod", "container", "node"]
    memory = Gauge("container_memory_working_set_bytes", "Working set.", labels, registry=registry)
    cpu = Counter("container_cpu_usage_seconds", "CPU time.", labels, registry=registry)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    prometheus = Prometheus(tmp_path_factory.mktemp("usage-prometheus"), [f"127.0.0.1:{server.server_port}"])
    prometheus.start_and_wait()
    yield prometheus, memory, cpu
    prometheus.stop()
    server.shutdown()
    thread.join(5)


def answered(prometheus: Prometheus, query: str) -> bool:
    url = f"{prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as response:
        return bool(json.loads(response.read())["data"]["result"])


def at_prometheus(spec: dict[str, Any], prometheus: Prometheus, namespace: str | None = None) -> dict[str, Any]:
    """The example's PromQL collectors sent to the test's Prometheus, their paintbox read as ``namespace``."""
    for collector in spec["evidence"]:
        if "promql" in collector:
            collector["promql"]["url"] = prometheus.url
            if namespace:
                collector["promql"]["query"] = collector["promql"]["query"].replace('"paintbox"', f'"{namespace}"')
    return spec


def test_oom_records_the_memory_series_then_raises_the_limit(
    paramedic: Kit, usage: tuple[Prometheus, Gauge, Counter]
) -> None:
    prometheus, memory, _ = usage
    ns = paramedic.namespace
    paramedic.deploy("thumbnails", replicas=1, memory="256Mi")
    pod = pods(paramedic.clients, ns, "thumbnails")[0].metadata.name
    memory.labels(ns, pod, "app", "kwok-node-0").set(MEMORY)
    wait_until(
        lambda: answered(prometheus, f'container_memory_working_set_bytes{{namespace="{ns}"}}'),
        60,
        "Prometheus to scrape the pod's memory",
    )
    spec = at_prometheus(
        example("paintbox/admin/clusterrunbook-oom-memory-series.yaml", "oom-raise-memory-series"), prometheus, ns
    )
    spec["target"]["namespaces"] = spec["allowedNamespaces"] = {"matchLabels": {"kubernetes.io/metadata.name": ns}}
    runbook = paramedic.cluster_runbook(spec)
    try:
        armed(paramedic, runbook, cluster=True)
        simulate.make_oomkilled(paramedic.clients.core, ns, pod)
        rem = fired(paramedic, runbook)  # in the target's namespace, which allowedNamespaces admits
        status = paramedic.wait_phase(rem, "Succeeded", timeout=90)
    finally:
        paramedic.clients.custom.delete_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", runbook)

    assert status["steps"][0]["action"] == "raiseMemoryLimit"
    container = paramedic.deployment("thumbnails")["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["memory"] == "384Mi"
    before = records(status)
    assert before["memory"]["outcome"] == "Collected", before["memory"]
    assert before["memory"]["values"]["value"] == MEMORY
    assert before["memory"]["values"]["samples"] >= 1
    state = before["state"]["values"]
    assert (state["oomKilled"], state["lastExitCode"], state["lastReason"]) == (True, 137, "OOMKilled")
    detail = paramedic.clients.core.read_namespaced_config_map(f"{rem}-evidence", ns).data
    assert pod in detail["before.memory"]
    assert "256Mi" in detail["before.state"]  # the limit the pod was killed at
    assert "384Mi" in detail["after-0.state"]  # and the one its replacement runs with


# -- node pressure ---------------------------------------------------------------------------------


@pytest.fixture
def pressured_node(clients: Clients) -> Iterator[str]:
    """A KWOK node of the test's own, deleted afterwards (tests counting nodes see only the cluster's)."""
    name = f"kwok-pressure-{uuid.uuid4().hex[:6]}"
    clients.core.create_node(fake_node(name))

    def ready() -> bool:
        conditions = clients.core.read_node(name).status.conditions or []
        return any(c.type == "Ready" and c.status == "True" for c in conditions)

    try:
        wait_until(ready, 60, f"node {name} Ready")
        yield name
    finally:
        clients.core.delete_node(name)


def test_node_pressure_records_the_node_and_the_top_pods_then_cordons_and_drains(
    paramedic: Kit, usage: tuple[Prometheus, Gauge, Counter], pressured_node: str
) -> None:
    prometheus, memory, cpu = usage
    ns, node = paramedic.namespace, pressured_node
    paramedic.deploy("hungry", replicas=1, node_selector={"kubernetes.io/hostname": node})
    hungry = pods(paramedic.clients, ns, "hungry")[0].metadata.name
    memory.labels(ns, hungry, "app", node).set(64 * 2**30)  # by far the largest of the cluster
    memory.labels(ns, "small-1", "app", node).set(2**20)

    def cpu_rate() -> bool:
        cpu.labels(ns, hungry, "app", node).inc(30)  # a busy pod: its counter rises with every poll
        return answered(prometheus, f'rate(container_cpu_usage_seconds_total{{pod="{hungry}"}}[5m]) > 0')

    wait_until(cpu_rate, 60, "Prometheus to see the pod's CPU rate")
    runbook = paramedic.cluster_runbook(at_prometheus(example("candlefish/runbooks.yaml", "node-pressure"), prometheus))
    ops = paramedic.at(OPERATOR_NAMESPACE)
    try:
        rem = ops.remediation(runbook, {"kind": "Node", "name": node}, kind="ClusterRunbook")
        status = ops.wait_phase(rem, "Succeeded", timeout=120)
    finally:
        paramedic.clients.custom.delete_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", runbook)

    assert [(s["action"], s["phase"]) for s in status["steps"]] == [("cordon", "Succeeded"), ("drain", "Succeeded")]
    assert paramedic.clients.core.read_node(node).spec.unschedulable is True
    before = records(status)
    assert before["node"]["outcome"] == "Collected", before["node"]
    assert before["node"]["values"]["nodeReady"] is True
    assert before["topMemory"]["values"]["value"] == 64 * 2**30  # topk: the largest first
    assert before["topCpu"]["outcome"] == "Collected", before["topCpu"]
    assert before["topCpu"]["values"]["value"] > 0
    detail = paramedic.clients.core.read_namespaced_config_map(f"{rem}-evidence", OPERATOR_NAMESPACE).data
    assert f"Node {node}: " in detail["before.node"]
    assert "Ready=True" in detail["before.node"]
    assert hungry in detail["before.topMemory"]
    assert hungry in detail["before.topCpu"]
