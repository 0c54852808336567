"""The seed Job steps of examples/candlefish, run for real: their Job's pod runs on the real node
(paramedic_dev.node) with Debian's psql and redis-cli, against a real PostgreSQL and Redis on loopback, and
changes them: a long query is terminated, the session keys are gone.

Each step is the seed's own (command, arguments, environment), with three changes a test needs, each named
where it is made: the image is the local tools image (no registry), the pod is placed on the real node with
the host's network (the node has no pod network, and the servers listen on loopback), and the database and
cache addresses are the test's. Because a namespaced Runbook may not ask for the host's network (job_guard:
a tenant's Job may not share the node's namespaces), the steps run from a ClusterRunbook, whose Job keeps the
full JobSpec."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from paramedic.api.common import GROUP, VERSION
from paramedic_dev import node
from tests.cluster.realnode import MISSING, SKIP_REASON, Real, real
from tests.databases import PostgreSQL, Redis, missing
from tests.kit import Kit
from tests.waiting import wait_until

__all__ = ["real"]  # the shared fixture, imported to be used here
pytestmark = [
    pytest.mark.skipif(bool(MISSING), reason=SKIP_REASON),
    pytest.mark.skipif(bool(missing()), reason=f"needs {', '.join(missing())} (`make system-deps` installs them)"),
]

CANDLEFISH = Path(__file__).resolve().parents[2] / "examples" / "candlefish" / "runbooks.yaml"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgreSQL]:
    server = PostgreSQL()
    server.start_and_wait()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis() -> Iterator[Redis]:
    server = Redis()
    server.start_and_wait()
    yield server
    server.stop()


def seed_runbook(name: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(CANDLEFISH.read_text()) if d and d["kind"] == "Runbook"]
    return next(d for d in docs if d["metadata"]["name"] == name)


def on_the_real_node(real: Real, runbook: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The seed's spec with its one runJob step's pod moved onto the real node; returns (spec, its container)."""
    spec = runbook["spec"]
    (step,) = spec["steps"]
    pod = step["runJob"]["template"]["spec"]["template"]["spec"]
    pod.update(node.placement())
    (container,) = pod["containers"]
    container["image"] = real.tools  # the seed names an image in a registry this machine cannot reach
    container["imagePullPolicy"] = "Never"
    return spec, container


def run_as_cluster_runbook(paramedic: Kit, spec: dict[str, Any], approve: bool = False) -> dict[str, Any]:
    name = f"real-{uuid.uuid4().hex[:6]}"
    spec["allowedNamespaces"] = {"matchLabels": {"kubernetes.io/metadata.name": paramedic.namespace}}
    paramedic.cluster_runbook(spec, name=name)
    try:
        paramedic.deploy("collab-api", replicas=1)
        target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "collab-api"}
        rem = paramedic.remediation(name, target, kind="ClusterRunbook", reason="seed step, run for real")
        if approve:
            paramedic.wait_phase(rem, "AwaitingApproval")
            paramedic.approve(rem)
        return paramedic.wait_phase(rem, "Succeeded", timeout=180)
    finally:
        paramedic.clients.custom.delete_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", name)


def job_pod(paramedic: Kit, status: dict[str, Any]) -> dict[str, Any]:
    job = status["steps"][0]["changes"]["job"]
    (pod,) = paramedic.clients.core.list_namespaced_pod(paramedic.namespace, label_selector=f"job-name={job}").items
    return dict(paramedic.clients.plain(pod))


def assert_ran_for_real(pod: dict[str, Any]) -> None:
    assert pod["spec"]["nodeName"] == node.NAME
    (container,) = pod["status"]["containerStatuses"]
    assert container["containerID"].startswith("containerd://")
    assert container["state"]["terminated"]["exitCode"] == 0


def test_the_seed_pg_terminate_backend_step_terminates_a_long_query(
    paramedic: Kit, real: Real, postgres: PostgreSQL
) -> None:
    client = subprocess.Popen(
        ["psql", postgres.url, "-Xc", "select pg_sleep(600)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        sleeping = "select count(*) from pg_stat_activity where state = 'active' and query like 'select pg_sleep%'"
        # The seed terminates queries older than 5 minutes; this one is made old enough at 1 second.
        wait_until(
            lambda: postgres.psql(f"{sleeping} and now() - query_start > interval '1 second'") == "1",
            30,
            "a long query",
        )
        runbook = seed_runbook("terminate-long-queries")
        spec, container = on_the_real_node(real, runbook)
        assert "interval '5 minutes'" in container["args"][0]
        container["args"][0] = container["args"][0].replace("interval '5 minutes'", "interval '1 second'")
        # The seed reads DATABASE_URL from the Secret collab-db: this one names the test's server.
        paramedic.clients.core.create_namespaced_secret(
            paramedic.namespace, {"metadata": {"name": "collab-db"}, "stringData": {"DATABASE_URL": postgres.url}}
        )
        status = run_as_cluster_runbook(paramedic, spec, approve=spec.get("requiresApproval", False))

        _, stderr = client.communicate(timeout=60)
        assert client.returncode != 0
        assert "terminating connection due to administrator command" in stderr
        assert postgres.psql(sleeping) == "0"
        assert_ran_for_real(job_pod(paramedic, status))
    finally:
        client.kill()
        client.wait()


def test_the_seed_redis_cli_step_deletes_the_session_keys(paramedic: Kit, real: Real, redis: Redis) -> None:
    sessions = [f"doc-session:{i}" for i in range(150)]  # more than one batch of the seed's xargs -n 100
    for key in sessions:
        redis.cli("set", key, "stale")
    redis.cli("set", "doc:1", "kept")
    spec, container = on_the_real_node(real, seed_runbook("invalidate-session-cache"))
    (env,) = container["env"]
    assert env["name"] == "REDIS_URL"
    env["value"] = redis.url  # the seed names the collab-cache Service
    status = run_as_cluster_runbook(paramedic, spec)

    assert redis.cli("--scan", "--pattern", "doc-session:*") == ""
    assert redis.cli("get", "doc:1") == "kept"
    assert_ran_for_real(job_pod(paramedic, status))
