"""Fields of the field audit (tests/field_audit.py) that no earlier test exercised, shown doing what their
descriptions say on the real control plane."""

from __future__ import annotations

import datetime
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from kubernetes import watch

from paramedic.api.common import API_VERSION, GROUP, VERSION
from paramedic_dev import simulate
from paramedic_dev.cluster import DevCluster
from tests.cluster.conftest import OPERATOR_NAMESPACE, kubectl
from tests.cluster.test_actions import create_hpa
from tests.cluster.test_cloud import allowed, aurora_cluster, aws, node_group, rds_instance
from tests.cluster.test_escalation import Receiver, secret
from tests.cluster.test_triggers import one_remediation, pods, remediations
from tests.kit import Kit
from tests.waiting import wait_until

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment"}


def _target(name: str) -> dict[str, Any]:
    return {**DEPLOYMENT, "name": name}


# -- Runbook ------------------------------------------------------------------------------------------------


def test_description_is_shown_by_kubectl_get_wide(paramedic: Kit, cluster: DevCluster) -> None:
    """description: what this runbook fixes, for humans (kubectl get runbooks -o wide)."""
    name = paramedic.runbook({"description": "Restarts-the-checkout-API", "steps": [{"rolloutRestart": {}}]})
    out = kubectl(cluster, "get", "runbooks", "-n", paramedic.namespace, name, "-o", "wide")
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.splitlines()
    assert "DESCRIPTION" in header.split()
    assert "Restarts-the-checkout-API" in row.split()


def test_a_manual_runbook_is_never_started_by_a_trigger(paramedic: Kit) -> None:
    """trigger.manual: started only by Remediations created by hand."""
    paramedic.deploy("api", replicas=1)
    manual = paramedic.runbook({"trigger": {"manual": {}}, "steps": [{"deletePod": {}}]}, name="by-hand")
    # The canary: a runbook with a trigger fires for the same crash loop, so the event was seen.
    canary = paramedic.runbook(
        {"trigger": {"podCrashLoop": {"minRestarts": 1}}, "dryRun": True, "steps": [{"deletePod": {}}]},
        name="canary",
    )
    simulate.make_crashloop(
        paramedic.clients.core, paramedic.namespace, pods(paramedic, "api")[0].metadata.name, restarts=3
    )
    one_remediation(paramedic, canary)
    assert remediations(paramedic, manual) == []
    pod = pods(paramedic, "api")[0].metadata.name
    paramedic.wait_phase(paramedic.remediation(manual, {"kind": "Pod", "name": pod}), "Succeeded")


def test_scale_never_goes_below_min(paramedic: Kit) -> None:
    """scale.min: never scale below this many replicas."""
    paramedic.deploy("router", replicas=3)
    runbook = paramedic.runbook({"steps": [{"scale": {"by": -3, "min": 2}}]})
    status = paramedic.wait_phase(paramedic.remediation(runbook, _target("router")), "Succeeded")
    assert status["steps"][0]["changes"] == {"from": 3, "to": 2}
    assert paramedic.deployment("router")["spec"]["replicas"] == 2


def test_patch_hpa_sets_min_and_max_replicas(paramedic: Kit) -> None:
    """patchHPA.minReplicas and patchHPA.maxReplicas: the bounds to set."""
    paramedic.deploy("search", replicas=1)
    create_hpa(paramedic, "search", "search", 1, 4)
    runbook = paramedic.runbook({"steps": [{"patchHPA": {"minReplicas": 3, "maxReplicas": 7, "cap": 10}}]})
    paramedic.wait_phase(paramedic.remediation(runbook, _target("search")), "Succeeded")
    hpa = paramedic.clients.autoscaling.read_namespaced_horizontal_pod_autoscaler("search", paramedic.namespace)
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (3, 7)


class PodWatch:
    """Every version of the pods matching ``selector`` the API server shows, from now on."""

    def __init__(self, paramedic: Kit, selector: str, namespace: str | None = None) -> None:
        self.seen: list[Any] = []
        self._watch = watch.Watch()
        core = paramedic.clients.core
        ns = namespace or paramedic.namespace
        version = core.list_namespaced_pod(ns, label_selector=selector).metadata.resource_version
        started = threading.Event()

        def run() -> None:
            stream = self._watch.stream(
                core.list_namespaced_pod, ns, label_selector=selector, resource_version=version, timeout_seconds=120
            )
            started.set()
            try:
                for event in stream:
                    self.seen.append(event["object"])
            except urllib3.exceptions.ProtocolError:
                pass  # the watch was stopped while it read

        threading.Thread(target=run, daemon=True).start()
        started.wait(10)

    def grace_periods(self) -> list[int]:
        """The grace period of each deletion seen, in order: the API server's answer to the delete first
        (the simulated kubelet then finishes the pod with 0)."""
        return [p.metadata.deletion_grace_period_seconds for p in self.seen if p.metadata.deletion_timestamp]

    def stop(self) -> None:
        self._watch.stop()


@pytest.fixture
def pod_watches() -> Iterator[list[PodWatch]]:
    made: list[PodWatch] = []
    yield made
    for w in made:
        w.stop()


def test_delete_pod_uses_the_grace_period(paramedic: Kit, pod_watches: list[PodWatch]) -> None:
    """deletePod.gracePeriodSeconds: overrides the pod's terminationGracePeriodSeconds (30 by default)."""
    paramedic.deploy("worker", replicas=1)
    pod = pods(paramedic, "worker")[0]
    seen = PodWatch(paramedic, "app=worker")
    pod_watches.append(seen)
    runbook = paramedic.runbook({"steps": [{"deletePod": {"gracePeriodSeconds": 7}}]})
    paramedic.wait_phase(paramedic.remediation(runbook, {"kind": "Pod", "name": pod.metadata.name}), "Succeeded")
    wait_until(lambda: seen.grace_periods(), 30, "the pod's deletion to be seen")
    assert seen.grace_periods()[0] == 7


def test_drain_uses_the_grace_period(paramedic: Kit, pod_watches: list[PodWatch]) -> None:
    """drain.gracePeriodSeconds: overrides each evicted pod's terminationGracePeriodSeconds."""
    node = "kwok-node-2"
    paramedic.deploy("batch", replicas=1, node_selector={"kubernetes.io/hostname": node})
    seen = PodWatch(paramedic, "app=batch")
    pod_watches.append(seen)
    runbook = paramedic.cluster_runbook(
        {"target": {"kinds": ["Node"]}, "steps": [{"drain": {"gracePeriodSeconds": 5}, "timeout": "2m"}]}
    )
    ops = paramedic.at(OPERATOR_NAMESPACE)
    try:
        status = ops.wait_phase(
            ops.remediation(runbook, {"kind": "Node", "name": node}, kind="ClusterRunbook"), "Succeeded", timeout=90
        )
        assert [p for p in status["steps"][0]["changes"]["evicted"] if p.startswith(f"{paramedic.namespace}/")]
        wait_until(lambda: seen.grace_periods(), 30, "the eviction to be seen")
        assert seen.grace_periods()[0] == 5
    finally:
        paramedic.clients.core.patch_node(node, {"spec": {"unschedulable": None}})


def test_rollback_to_a_named_revision(paramedic: Kit) -> None:
    """rollback.toRevision: the revision to return to (by default the newest earlier one)."""
    paramedic.deploy("frontend", replicas=1, image="registry.invalid/frontend:1")
    for version in (2, 3):
        paramedic.clients.apps.patch_namespaced_deployment(
            "frontend",
            paramedic.namespace,
            {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "app", "image": f"registry.invalid/frontend:{version}"}]}
                    }
                }
            },
        )
        paramedic.wait_rolled_out("frontend", 1)
    runbook = paramedic.runbook({"steps": [{"rollback": {"toRevision": 1}}]})
    status = paramedic.wait_phase(paramedic.remediation(runbook, _target("frontend")), "Succeeded")
    assert (status["steps"][0]["changes"]["fromRevision"], status["steps"][0]["changes"]["toRevision"]) == (3, 1)
    containers = paramedic.deployment("frontend")["spec"]["template"]["spec"]["containers"]
    assert containers[0]["image"] == "registry.invalid/frontend:1"


def test_raise_memory_limit_of_one_container(paramedic: Kit) -> None:
    """raiseMemoryLimit.container: only this container; by default every container."""
    limits = {"resources": {"limits": {"memory": "256Mi"}}}
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "cache", "labels": {"app": "cache"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "cache"}},
            "template": {
                "metadata": {"labels": {"app": "cache"}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "registry.invalid/app:1", **limits},
                        {"name": "proxy", "image": "registry.invalid/proxy:1", **limits},
                    ]
                },
            },
        },
    }
    paramedic.clients.apps.create_namespaced_deployment(paramedic.namespace, body)
    paramedic.wait_rolled_out("cache", 1)
    runbook = paramedic.runbook({"steps": [{"raiseMemoryLimit": {"factor": 2, "cap": "1Gi", "container": "proxy"}}]})
    status = paramedic.wait_phase(paramedic.remediation(runbook, _target("cache")), "Succeeded")
    assert status["steps"][0]["changes"]["containers"] == {"proxy": {"from": "256Mi", "to": "512Mi"}}
    memory = {
        c["name"]: c["resources"]["limits"]["memory"]
        for c in paramedic.deployment("cache")["spec"]["template"]["spec"]["containers"]
    }
    assert memory == {"app": "256Mi", "proxy": "512Mi"}


def test_verify_holds_for_stable_for(paramedic: Kit) -> None:
    """verify.stableFor: the check must hold continuously this long before the step succeeds."""
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook(
        {"steps": [{"scale": {"replicas": 2}, "verify": {"check": "PodsHealthy", "stableFor": "6s"}}]}
    )
    status = paramedic.wait_phase(paramedic.remediation(runbook, _target("api")), "Succeeded", timeout=90)
    step = status["steps"][0]
    started = datetime.datetime.fromisoformat(step["startedAt"])
    finished = datetime.datetime.fromisoformat(step["finishedAt"])
    assert finished - started >= datetime.timedelta(seconds=6)


def test_a_dry_run_runbook_changes_nothing(paramedic: Kit) -> None:
    """Runbook dryRun: plan every step and record it, change nothing (the Remediation does not ask for it)."""
    paramedic.deploy("api", replicas=2)
    before = paramedic.deployment("api")["metadata"]["resourceVersion"]
    runbook = paramedic.runbook({"dryRun": True, "steps": [{"scale": {"by": 3}}, {"rolloutRestart": {}}]})
    status = paramedic.wait_phase(paramedic.remediation(runbook, _target("api")), "DryRun")
    assert [s["phase"] for s in status["steps"]] == ["DryRun", "DryRun"]
    assert status["steps"][0]["changes"] == {"from": 2, "to": 5}
    assert paramedic.deployment("api")["metadata"]["resourceVersion"] == before


# -- cloud steps --------------------------------------------------------------------------------------------


def test_rds_reboot_with_failover(paramedic: Kit, moto_server: str) -> None:
    """rdsReboot.forceFailover: reboot with failover."""
    rds = aws("rds", moto_server)
    db = rds_instance(rds, MultiAZ=True)
    paramedic.deploy("orders-api", replicas=1)
    runbook = paramedic.cluster_runbook(
        {
            "allowedNamespaces": allowed(paramedic),
            "steps": [
                {"rdsReboot": {"dbInstanceIdentifier": db, "forceFailover": True, "requireSnapshot": False}},
            ],
        }
    )
    ops = paramedic.at(OPERATOR_NAMESPACE)
    target = {**_target("orders-api"), "namespace": paramedic.namespace}
    status = ops.wait_phase(ops.remediation(runbook, target, kind="ClusterRunbook"), "Succeeded", timeout=120)
    assert "with failover" in status["steps"][0]["plan"]
    assert status["steps"][0]["changes"]["requested"] is True


def test_rds_failover_cluster(paramedic: Kit, moto_server: str) -> None:
    """rdsFailoverCluster: fail the DB cluster dbClusterIdentifier over to targetDbInstanceIdentifier."""
    rds = aws("rds", moto_server)
    name = aurora_cluster(rds)
    paramedic.deploy("orders-api", replicas=1)
    runbook = paramedic.cluster_runbook(
        {
            "allowedNamespaces": allowed(paramedic),
            "steps": [
                {
                    "rdsFailoverCluster": {"dbClusterIdentifier": name, "targetDbInstanceIdentifier": f"{name}-b"},
                    "timeout": "2m",
                }
            ],
        }
    )
    ops = paramedic.at(OPERATOR_NAMESPACE)
    target = {**_target("orders-api"), "namespace": paramedic.namespace}
    status = ops.wait_phase(ops.remediation(runbook, target, kind="ClusterRunbook"), "Succeeded", timeout=120)
    changes = status["steps"][0]["changes"]
    assert (changes["cluster"], changes["writerBefore"], changes["writerAfter"]) == (name, f"{name}-a", f"{name}-b")
    members = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]["DBClusterMembers"]
    assert [m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"]] == [f"{name}-b"]


def test_node_group_desired_size_and_floor(paramedic: Kit, moto_server: str) -> None:
    """eksScaleNodegroup.desiredSize: the size to set; minDesired: never below this."""
    eks = aws("eks", moto_server)
    cluster = node_group(eks, max_size=6, desired=4)
    paramedic.deploy("api", replicas=1)
    ops = paramedic.at(OPERATOR_NAMESPACE)
    target = {**_target("api"), "namespace": paramedic.namespace}

    def run(params: dict[str, Any]) -> tuple[int, int]:
        step = {"eksScaleNodegroup": {"clusterName": cluster, "nodegroupName": "workers", "maxDesired": 6, **params}}
        runbook = paramedic.cluster_runbook({"allowedNamespaces": allowed(paramedic), "steps": [step]})
        status = ops.wait_phase(ops.remediation(runbook, target, kind="ClusterRunbook"), "Succeeded")
        return status["steps"][0]["changes"]["from"], status["steps"][0]["changes"]["to"]

    assert run({"desiredSize": 5}) == (4, 5)
    assert run({"desiredSize": 1, "minDesired": 3}) == (5, 3)
    assert run({"by": -10, "minDesired": 2}) == (3, 2)
    scaling = eks.describe_nodegroup(clusterName=cluster, nodegroupName="workers")["nodegroup"]["scalingConfig"]
    assert scaling["desiredSize"] == 2


# -- EscalationPolicy ---------------------------------------------------------------------------------------


def test_the_current_level_is_sent_again_every_repeat_interval(paramedic: Kit) -> None:
    """repeatInterval: re-send the current level this often while it lasts."""
    receiver = Receiver()
    try:
        secret(paramedic, "hook", receiver.url + "/hooks/oncall")
        spec = {
            "levels": [
                {
                    "name": "primary",
                    "after": "0s",
                    "channels": [{"name": "oncall", "webhook": {"name": "hook", "key": "value"}}],
                }
            ],
            "repeatInterval": "3s",
        }
        body = {"apiVersion": API_VERSION, "kind": "EscalationPolicy", "metadata": {"name": "repeat"}, "spec": spec}
        paramedic.clients.custom.create_namespaced_custom_object(
            GROUP, VERSION, paramedic.namespace, "escalationpolicies", body
        )
        paramedic.deploy("checkout", replicas=1)
        runbook = paramedic.runbook({"escalationPolicyRef": {"name": "repeat"}, "steps": [{"rollback": {}}]})
        rem = paramedic.remediation(runbook, _target("checkout"))
        paramedic.wait_phase(rem, "Failed")
        wait_until(lambda: len(receiver.received) >= 3, 60, "the page to be sent three times")
        times = [t for t, _, _ in receiver.received[:3]]
        assert all(b - a >= datetime.timedelta(seconds=2.5) for a, b in itertools.pairwise(times))
        assert all(body["status"] == "firing" for _, _, body in receiver.received[:3])
        paramedic.resolve(rem)
        wait_until(lambda: receiver.received[-1][2]["status"] == "resolved", 30, "the resolution")
        count = len(receiver.received)
        time.sleep(4)
        assert len(receiver.received) == count  # resolved: nothing more is sent
    finally:
        receiver.close()
