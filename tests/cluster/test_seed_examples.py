"""The seed runbooks in examples/ are accepted by the API server and work end to end."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paramedic.api.common import API_VERSION, GROUP, VERSION
from paramedic_dev.cluster import DevCluster
from paramedic_dev.install import OperatorProcess
from tests.kit import Kit, deployment
from tests.waiting import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Everything but the one-off Remediations (the tests start their own).
APPLIED = [
    p
    for folder in ("paintbox", "candlefish", "cluster")
    for p in sorted((EXAMPLES / folder).glob("*.yaml"))
    if not p.name.startswith("remediation-")
]
APPLIED.sort(key=lambda p: "Namespace" not in p.read_text())  # namespaces first


def kubectl(cluster: DevCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(cluster.bin["kubectl"]), *args], env=cluster.env(), capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def seeds(cluster: DevCluster, crds: None) -> Iterator[None]:
    for path in APPLIED:
        result = kubectl(cluster, "apply", "-f", str(path))
        assert result.returncode == 0, result.stderr
    yield
    for path in reversed(APPLIED):
        kubectl(cluster, "delete", "--wait=false", "--ignore-not-found", "-f", str(path))


def run(clients: Any, namespace: str, runbook: str, target: dict[str, Any], name: str) -> str:
    body = {
        "apiVersion": API_VERSION,
        "kind": "Remediation",
        "metadata": {"name": name},
        "spec": {"runbookRef": {"name": runbook}, "target": target, "reason": f"seed example {runbook}"},
    }
    clients.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "remediations", body)
    return name


def phase(clients: Any, namespace: str, name: str, *wanted: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        status = (
            clients.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "remediations", name).get("status")
            or {}
        )
        return status if status.get("phase") in wanted else None

    return wait_until(reached, 120, f"{namespace}/{name} to reach {wanted}")


def replace_live(clients: Any, plural: str, body: dict[str, Any]) -> None:
    """Replace the applied example in paintbox with ``body`` (an example changed by the test)."""
    name = body["metadata"]["name"]
    live = clients.custom.get_namespaced_custom_object(GROUP, VERSION, "paintbox", plural, name)
    body = {**body, "metadata": {**body["metadata"], "resourceVersion": live["metadata"]["resourceVersion"]}}
    clients.custom.replace_namespaced_custom_object(GROUP, VERSION, "paintbox", plural, name, body)


def fired(clients: Any, runbook: str) -> list[dict[str, Any]]:
    """The Remediations a trigger of the paintbox runbook ``runbook`` created."""
    found = clients.custom.list_namespaced_custom_object(
        GROUP, VERSION, "paintbox", "remediations", label_selector=f"paramedic.dev/runbook={runbook}"
    )
    return list(found["items"])


def test_every_example_is_served(seeds: None, clients: Any) -> None:
    kinds = {"runbooks": "paintbox", "ratelimitpolicies": "paintbox", "escalationpolicies": "paintbox"}
    for plural, namespace in kinds.items():
        assert clients.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]
    names = {
        r["metadata"]["name"]
        for r in clients.custom.list_cluster_custom_object(GROUP, VERSION, "clusterrunbooks")["items"]
    }
    assert {"drain-node", "node-pressure"} <= names


def test_oom_kill_raises_the_memory_limit(seeds: None, clients: Any, operator: OperatorProcess) -> None:
    """The OOM example through its own trigger: a container status OOMKilled as the kubelet writes it; the
    Deployment's memory limit is raised by half (256Mi -> 384Mi)."""
    from paramedic_dev import simulate

    _no_freeze(clients)
    clients.apps.create_namespaced_deployment(
        "paintbox", deployment("thumbnails", 1, memory="256Mi", image="registry.invalid/thumbnails:1")
    )
    pod = wait_until(
        lambda: next(
            (
                p.metadata.name
                for p in clients.core.list_namespaced_pod("paintbox", label_selector="app=thumbnails").items
                if p.status.phase == "Running"
            ),
            None,
        ),
        60,
        "a running thumbnails pod",
    )
    simulate.make_oomkilled(clients.core, "paintbox", pod)
    found = wait_until(
        lambda: [r for r in fired(clients, "oom-raise-memory") if r["spec"]["target"]["name"] == "thumbnails"],
        60,
        "the OOM runbook to fire",
    )
    status = phase(clients, "paintbox", found[0]["metadata"]["name"], "Succeeded", "Failed", "Skipped", "RateLimited")
    assert status["phase"] == "Succeeded", status["message"]
    assert status["steps"][0]["action"] == "raiseMemoryLimit"
    container = clients.apps.read_namespaced_deployment("thumbnails", "paintbox").spec.template.spec.containers[0]
    assert container.resources.limits["memory"] == "384Mi"
    state = next(r for r in status["evidence"] if r["name"] == "state" and r.get("after") is None)
    assert (state["values"]["oomKilled"], state["values"]["lastExitCode"]) == (True, 137)


def test_candlefish_jobs(seeds: None, clients: Any, operator: OperatorProcess) -> None:
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "collab-api"}
    cache = run(clients, "candlefish", "invalidate-session-cache", target, "cache-drill")
    assert phase(clients, "candlefish", cache, "Succeeded", "Failed")["phase"] == "Succeeded"

    queries = run(clients, "candlefish", "terminate-long-queries", target, "queries-drill")
    phase(clients, "candlefish", queries, "AwaitingApproval")
    approval = {"approved": True, "approvedBy": clients.whoami()}
    clients.custom.patch_namespaced_custom_object(
        GROUP, VERSION, "candlefish", "remediations", queries, {"spec": approval}
    )
    status = phase(clients, "candlefish", queries, "Succeeded", "Failed")
    assert status["phase"] == "Succeeded", status["message"]
    job = clients.batch.read_namespaced_job(status["steps"][0]["changes"]["job"], "candlefish")
    assert "pg_terminate_backend" in job.spec.template.spec.containers[0].args[0]


def _no_freeze(clients: Any) -> None:
    """The example policy freezes Friday evenings; these tests are about the runbooks, whatever the day."""
    clients.custom.patch_namespaced_custom_object(
        GROUP, VERSION, "paintbox", "ratelimitpolicies", "paintbox", {"spec": {"freezeWindows": []}}
    )


def test_hpa_at_max_raises_the_cap(seeds: None, clients: Any, operator: OperatorProcess) -> None:
    import datetime

    _no_freeze(clients)
    auto = clients.autoscaling
    auto.create_namespaced_horizontal_pod_autoscaler(
        "paintbox",
        {
            "metadata": {"name": "apollo-router"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "apollo-router"},
                "minReplicas": 2,
                "maxReplicas": 3,
            },
        },
    )
    since = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=11)).strftime("%Y-%m-%dT%H:%M:%SZ")
    auto.patch_namespaced_horizontal_pod_autoscaler_status(
        "apollo-router",
        "paintbox",
        {
            "status": {
                "currentReplicas": 3,
                "desiredReplicas": 3,
                "conditions": [
                    {
                        "type": "ScalingLimited",
                        "status": "True",
                        "reason": "TooManyReplicas",
                        "lastTransitionTime": since,
                    }
                ],
            }
        },
    )

    name = wait_until(lambda: fired(clients, "hpa-at-max"), 60, "the hpa-at-max runbook to fire")[0]["metadata"]["name"]
    assert phase(clients, "paintbox", name, "Succeeded", "Failed", "Skipped", "RateLimited")["phase"] == "Succeeded"
    assert auto.read_namespaced_horizontal_pod_autoscaler("apollo-router", "paintbox").spec.max_replicas == 8


def test_node_pressure_alert_cordons_and_drains(
    seeds: None, clients: Any, operator: OperatorProcess, webhook_port: int
) -> None:
    import json
    import urllib.request

    from tests.cluster.conftest import OPERATOR_NAMESPACE, WEBHOOK_TOKEN

    node = "kwok-node-1"
    wait_until(
        lambda: (
            (
                clients.custom.get_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", "node-pressure").get(
                    "status"
                )
                or {}
            ).get("triggerKind")
            == "alertmanager"
        ),
        30,
        "the trigger to be armed",
    )
    payload = {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "NodeHighMemory", "node": node, "severity": "warning"},
                "startsAt": "2026-11-23T12:00:00Z",
                "fingerprint": "seed-node-pressure",
            }
        ],
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{webhook_port}/alertmanager",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {WEBHOOK_TOKEN}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            created = json.loads(response.read())["created"]
        assert len(created) == 1
        status = phase(clients, OPERATOR_NAMESPACE, created[0], "Succeeded", "Failed", "Skipped", "RateLimited")
        assert status["phase"] == "Succeeded", status["message"]
        assert [s["action"] for s in status["steps"]] == ["cordon", "drain"]
        # The node's conditions were recorded first (the top pods need --prometheus-url, which this operator
        # has not: those records say so, and the drain went on; test_seed_diagnosis.py has them).
        node_record = next(r for r in status["evidence"] if r["name"] == "node")
        assert node_record["values"]["nodeReady"] is True
        assert clients.core.read_node(node).spec.unschedulable is True
    finally:
        clients.core.patch_node(node, {"spec": {"unschedulable": None}})


def test_crash_loop_restart_does_not_help_so_it_rolls_back(
    seeds: None, clients: Any, operator: OperatorProcess
) -> None:
    """A bad release crash-loops: the example restarts it (still crashing), then rolls back to the good one."""
    import threading

    import yaml

    from paramedic_dev import simulate

    _no_freeze(clients)
    example = yaml.safe_load((EXAMPLES / "paintbox" / "runbook-restart-router.yaml").read_text())
    example["spec"]["steps"][0]["verify"] = {"check": "PodsHealthy", "timeout": "6s"}  # the example waits 60s
    replace_live(clients, "runbooks", example)
    bad = "registry.invalid/apollographql/router:v1.58.0-bad"
    clients.apps.patch_namespaced_deployment(
        "apollo-router",
        "paintbox",
        {"spec": {"template": {"spec": {"containers": [{"name": "router", "image": bad}]}}}},
    )
    stop = threading.Event()

    def crash_bad_pods() -> None:  # every pod of the bad release crash-loops, as it would for real
        while not stop.wait(0.3):
            for pod in clients.core.list_namespaced_pod("paintbox", label_selector="app=apollo-router").items:
                running = pod.status.phase == "Running" and not pod.metadata.deletion_timestamp
                waiting = [s for s in pod.status.container_statuses or [] if s.state and s.state.waiting]
                if running and pod.spec.containers[0].image == bad and not waiting:
                    with contextlib.suppress(Exception):
                        simulate.make_crashloop(clients.core, "paintbox", pod.metadata.name, restarts=4)

    threading.Thread(target=crash_bad_pods, daemon=True).start()
    try:
        name = wait_until(lambda: fired(clients, "restart-router"), 60, "the crash-loop runbook to fire")[0][
            "metadata"
        ]["name"]
        status = phase(clients, "paintbox", name, "Succeeded", "Failed", "Skipped", "RateLimited")
        assert [(s["name"], s["phase"]) for s in status["steps"]] == [
            ("restart", "Failed"),
            ("roll back", "Succeeded"),
        ], status["message"]
        # These pods' logs cannot be read (their KWOK nodes serve none), so the restart's when: let it run;
        # the branch on the logs is test_seed_diagnosis.py's. The crash was recorded all the same.
        state = next(r for r in status["evidence"] if r["name"] == "state" and r.get("after") is None)
        assert state["values"]["restarts"] >= 3
        image = clients.apps.read_namespaced_deployment("apollo-router", "paintbox").spec.template.spec.containers[0]
        assert image.image == "registry.invalid/apollographql/router:v1.57.1"
    finally:
        stop.set()


def test_the_on_call_escalation_path_pages_primary_with_the_incident_template(
    seeds: None, clients: Any, operator: OperatorProcess
) -> None:
    """The example policy, with its PagerDuty endpoint pointed at a local receiver (tests never call out)."""
    import yaml

    from tests.cluster.test_escalation import Receiver

    pagerduty = Receiver()
    try:
        policy = yaml.safe_load_all((EXAMPLES / "paintbox" / "policies.yaml").read_text())
        oncall = next(d for d in policy if d["kind"] == "EscalationPolicy")
        for level in oncall["spec"]["levels"]:
            for channel in level["channels"]:
                if "pagerduty" in channel:
                    channel["url"] = f"{pagerduty.url}/v2/enqueue"
        replace_live(clients, "escalationpolicies", oncall)
        clients.core.create_namespaced_secret(
            "paintbox",
            {
                "metadata": {"name": "paintbox-pagerduty"},
                "stringData": {"primary": "PRIMARY-KEY", "secondary": "SECONDARY-KEY"},
            },
        )
        # A procedure that cannot work (there is no earlier release of collab-api to roll back to).
        body = {
            "apiVersion": API_VERSION,
            "kind": "Runbook",
            "metadata": {"name": "doomed"},
            "spec": {"escalationPolicyRef": {"name": "paintbox-oncall"}, "steps": [{"rollback": {}}]},
        }
        clients.custom.create_namespaced_custom_object(GROUP, VERSION, "paintbox", "runbooks", body)
        clients.apps.create_namespaced_deployment(
            "paintbox", deployment("exports", 1, image="registry.invalid/exports:1")
        )
        name = run(
            clients,
            "paintbox",
            "doomed",
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "exports"},
            "doomed-drill",
        )
        phase(clients, "paintbox", name, "Failed")
        ((_, path, event),) = wait_until(lambda: pagerduty.received, 30, "the primary on-call page")
        assert path == "/v2/enqueue"
        assert event["routing_key"] == "PRIMARY-KEY"
        details = event["payload"]["custom_details"]
        assert details["level"] == "primary on-call"
        assert details["INCIDENT"] == "Paintbox: seed example doomed"
        assert details["SERVICES"] == "Apollo GraphOS router, Deployment/paintbox/exports"
        assert details["STATUS"] == "ESCALATED (StepsExhausted)"
        assert details["ETA"] == "Investigating - next update in 30 minutes"

        # The page is recorded in status right after it is sent; secondary comes only after 15 minutes.
        def recorded() -> dict[str, Any] | None:
            rem = clients.custom.get_namespaced_custom_object(GROUP, VERSION, "paintbox", "remediations", name)
            escalation: dict[str, Any] = rem["status"]["escalation"]
            return escalation if escalation.get("notifications") else None

        escalation = wait_until(recorded, 30, "the page to be recorded")
        assert escalation["level"] == 0
        assert [n["levelName"] for n in escalation["notifications"]] == ["primary on-call"]
    finally:
        pagerduty.close()


def _pod_template(name: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": f"registry.invalid/{name}:1"}]},
    }


def test_statefulset_and_daemonset_rolling_restarts_and_scaling(paramedic: Kit) -> None:
    """The seed procedures' restarts and scale-outs on the other workload kinds: a StatefulSet restarted and
    scaled, a DaemonSet restarted, each verified by its rollout (RolloutComplete)."""
    apps = paramedic.clients.apps
    apps.create_namespaced_stateful_set(
        paramedic.namespace,
        {
            "metadata": {"name": "ledger"},
            "spec": {
                "serviceName": "ledger",
                "replicas": 2,
                "selector": {"matchLabels": {"app": "ledger"}},
                "template": _pod_template("ledger"),
            },
        },
    )
    apps.create_namespaced_daemon_set(
        paramedic.namespace,
        {
            "metadata": {"name": "log-agent"},
            "spec": {"selector": {"matchLabels": {"app": "log-agent"}}, "template": _pod_template("log-agent")},
        },
    )
    wait_until(
        lambda: (apps.read_namespaced_stateful_set("ledger", paramedic.namespace).status.ready_replicas or 0) == 2,
        90,
        "the StatefulSet to be ready",
    )
    rolled = {"check": "RolloutComplete", "timeout": "2m"}
    runbook = paramedic.runbook(
        {
            "target": {"kinds": ["StatefulSet", "DaemonSet"]},
            "steps": [
                {"name": "restart", "rolloutRestart": {}, "verify": rolled},
                {
                    "name": "scale out",
                    "scale": {"replicas": 3},
                    "verify": {"check": "RolloutComplete", "timeout": "2m"},
                },
                {
                    "name": "restart agents",
                    "rolloutRestart": {},
                    "target": {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "log-agent"},
                    "verify": rolled,
                },
            ],
        }
    )
    rem = paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "ledger"})
    status = paramedic.wait_phase(rem, "Succeeded", timeout=180)
    assert [(s["name"], s["phase"]) for s in status["steps"]] == [
        ("restart", "Succeeded"),
        ("scale out", "Succeeded"),
        ("restart agents", "Succeeded"),
    ]
    ledger = apps.read_namespaced_stateful_set("ledger", paramedic.namespace)
    assert "kubectl.kubernetes.io/restartedAt" in (ledger.spec.template.metadata.annotations or {})
    assert ledger.spec.replicas == 3
    assert ledger.status.ready_replicas == 3
    assert ledger.status.current_revision == ledger.status.update_revision  # every pod of the new revision
    agent = apps.read_namespaced_daemon_set("log-agent", paramedic.namespace)
    assert "kubectl.kubernetes.io/restartedAt" in (agent.spec.template.metadata.annotations or {})
    assert agent.status.updated_number_scheduled == agent.status.desired_number_scheduled > 0
