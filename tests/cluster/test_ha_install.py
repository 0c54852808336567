"""The install a user makes, with two replicas: the kustomize base's objects applied to the control plane,
its Deployment's container run twice as processes (its args with ``$(VAR)`` expanded from its env as the
kubelet does, its ServiceAccount's token, its probes evaluated here as the kubelet would), the leader killed.

Shown: both replicas live and both ready (readiness is serving, not leading: the Service's endpoint set
holds both); an alert POSTed to the standby is forwarded to the leader and creates exactly one Remediation,
acted on once; a malformed body is refused by the standby itself; after SIGKILL of the leader the standby
stays live and ready throughout, takes the Lease, and the webhook works through either endpoint (the killed
replica restarted, as the Deployment would, is a standby that forwards to the new leader).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from paramedic_dev.cluster import DevCluster, free_port
from paramedic_dev.install import OperatorProcess
from tests.cluster.conftest import AWS_ENV, OPERATOR_NAMESPACE, WEBHOOK_TOKEN
from tests.cluster.test_metric_triggers import payload, runbook_status, webhook
from tests.cluster.test_triggers import remediations
from tests.kit import Kit
from tests.waiting import wait_until

BASE = Path(__file__).resolve().parents[2] / "deploy" / "base"
APPLIED = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service"}
#: Flags that name where this process listens or which cluster it talks to: the only ones replaced.
REPLACED = ("--metrics-port", "--liveness", "--readiness", "--webhook-port", "--webhook-host", "--namespace")
#: The pod's downward-API values as processes on loopback have them.
POD_IP = "127.0.0.1"


def expand(arg: str, env: dict[str, str]) -> str:
    """The kubelet's ``$(VAR)`` expansion of container args (an unknown reference is left as written)."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), arg)


def pod_env(container: dict[str, Any], pod_name: str) -> dict[str, str]:
    """The container's env as the kubelet fills it: values and the two fieldRefs the manifests use."""
    fields = {"metadata.name": pod_name, "status.podIP": POD_IP}
    env = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        else:
            env[var["name"]] = fields[var["valueFrom"]["fieldRef"]["fieldPath"]]
    return env


def kubectl(cluster: DevCluster, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(cluster.bin["kubectl"]), *args], env=cluster.env(), input=stdin, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def rendered(cluster: DevCluster) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(kubectl(cluster, "kustomize", str(BASE))) if doc]


def probe(port: int, path: str) -> int:
    """An httpGet probe: the status code, 0 when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


class Replica:
    """One pod of the Deployment, as a process: its container ports mapped to free loopback ports."""

    def __init__(
        self, cluster: DevCluster, kubeconfig: Path, container: dict[str, Any], index: int, prefix: str = "paramedic-ha"
    ) -> None:
        self.name = f"{prefix}-{index}"
        self.ports = {port["name"]: free_port() for port in container["ports"]}
        self.liveness = container["livenessProbe"]["httpGet"]
        self.readiness = container["readinessProbe"]["httpGet"]
        env = pod_env(container, self.name)
        kept = [expand(arg, env) for arg in container["args"][1:] if not arg.startswith(REPLACED)]
        assert f"--webhook-advertise={POD_IP}" in kept  # the pod IP, recorded in the Lease for forwarding
        assert container["args"][0] == "run"
        namespace = next(a.split("=", 1)[1] for a in container["args"] if a.startswith("--namespace="))
        url = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in container["args"] if "=" in a}
        self.process = OperatorProcess(
            kubeconfig,
            cluster.workdir / "logs" / f"{self.name}.log",
            namespace,
            *kept,
            f"--metrics-port={self.ports['metrics']}",
            f"--liveness={self._local(url['--liveness'], 'health')}",
            f"--readiness={self._local(url['--readiness'], 'ready')}",
            "--webhook-host=127.0.0.1",
            f"--webhook-port={self.ports['webhook']}",
            env={**AWS_ENV, **env},
        )

    def _local(self, url: str, port_name: str) -> str:
        path = "/" + url.split("/", 3)[3]
        return f"http://127.0.0.1:{self.ports[port_name]}{path}"

    def live(self) -> bool:
        return probe(self.ports[self.liveness["port"]], self.liveness["path"]) == 200

    def ready(self) -> bool:
        return probe(self.ports[self.readiness["port"]], self.readiness["path"]) == 200


def serviceaccount_kubeconfig(cluster: DevCluster, core: client.CoreV1Api, account: str, namespace: str) -> Path:
    """A kubeconfig with the ServiceAccount's token, as its pods get one: the operator runs with its RBAC alone."""
    token = core.create_namespaced_service_account_token(
        account, namespace, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [{"name": "admin", "user": {"token": token}}]
    kubeconfig = cluster.workdir / f"{namespace}-{account}.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    return kubeconfig


@pytest.fixture
def installed(paramedic: Kit, cluster: DevCluster, crds: None) -> Iterator[list[Replica]]:
    documents = rendered(cluster)
    kubectl(cluster, "apply", "-f", "-", stdin=yaml.safe_dump_all([d for d in documents if d["kind"] in APPLIED]))
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    namespace = deployment["metadata"]["namespace"]
    assert namespace == OPERATOR_NAMESPACE  # the session's webhook token Secret lives there
    kubeconfig = serviceaccount_kubeconfig(cluster, paramedic.clients.core, account, namespace)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert deployment["spec"]["replicas"] >= 2
    paramedic.operator.stop()
    replicas = [Replica(cluster, kubeconfig, container, i) for i in range(2)]
    try:
        for replica in replicas:
            replica.process.start()
        yield replicas
    finally:
        for replica in replicas:
            replica.process.stop()
        paramedic.operator.start_and_wait()


def alert(paramedic: Kit, deployment: str) -> bytes:
    labels = {"alertname": "Down", "namespace": paramedic.namespace, "deployment": deployment}
    return payload({"status": "firing", "labels": labels, "startsAt": "2026-01-01T00:00:00Z"})


def holder(paramedic: Kit) -> str:
    api = client.CoordinationV1Api(paramedic.clients.api_client)
    lease = api.read_namespaced_lease("paramedic-leader", OPERATOR_NAMESPACE)
    return str(lease.spec.holder_identity or "")


def acted_once(paramedic: Kit, body: dict[str, Any], deployment: str) -> None:
    assert len(body["created"]) == 1, body
    paramedic.wait_phase(body["created"][0], "Succeeded")
    assert paramedic.deployment(deployment)["spec"]["replicas"] == 2


def test_two_replicas_as_installed_serve_the_webhook_and_fail_over(paramedic: Kit, installed: list[Replica]) -> None:
    # Eight targets, three alerted over the test: well under the storm breaker's share.
    for name in ("web", "api", "db", "cache", "queue", "mail", "auth", "feed"):
        paramedic.deploy(name, replicas=1)
    runbook = paramedic.runbook(
        {"trigger": {"alertmanager": {"alertnames": ["Down"]}}, "steps": [{"scale": {"replicas": 2}}]}, name="on-down"
    )
    wait_until(lambda: all(r.live() and r.ready() for r in installed), 60, "both replicas live and ready")
    wait_until(lambda: holder(paramedic) in {r.name for r in installed}, 60, "a replica to hold the Lease")
    wait_until(lambda: runbook_status(paramedic, runbook).get("triggerKind") == "alertmanager", 30, "the trigger armed")
    leader = next(r for r in installed if r.name == holder(paramedic))
    standby = next(r for r in installed if r is not leader)

    # The standby refuses what is wrong itself, before any forwarding.
    assert webhook(standby.ports["webhook"], b"{not json")[0] == 400
    assert webhook(standby.ports["webhook"], b'{"version": "3", "alerts": []}')[0] == 422
    assert webhook(standby.ports["webhook"], alert(paramedic, "web"), token="wrong")[0] == 401
    # A request that claims to be forwarded already is never forwarded again (no relay loops).
    forwarded = urllib.request.Request(
        f"http://127.0.0.1:{standby.ports['webhook']}/alertmanager",
        data=alert(paramedic, "web"),
        headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}", "X-Paramedic-Forwarded-By": "someone"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forwarded, timeout=10)
    assert refused.value.code == 503
    assert refused.value.headers["Retry-After"]
    assert remediations(paramedic, runbook) == []

    # The alert reaching the standby (the Service picked it) is forwarded: the leader decides, once.
    code, body = webhook(standby.ports["webhook"], alert(paramedic, "web"))
    assert code == 200, body
    acted_once(paramedic, body, "web")
    assert "forwarded to the leader" in standby.process.log.read_text()

    assert leader.process.pid is not None
    os.kill(leader.process.pid, signal.SIGKILL)
    not_serving = []

    def standby_leads() -> bool:
        if not (standby.live() and standby.ready()):
            not_serving.append(1)
        return holder(paramedic) == standby.name

    wait_until(standby_leads, 60, "the standby to take the Lease")
    assert not_serving == []  # live and ready throughout: never restarted, never out of the Service
    assert not leader.live()

    code, body = webhook(standby.ports["webhook"], alert(paramedic, "api"))
    assert code == 200, body
    acted_once(paramedic, body, "api")

    # The Deployment restarts the killed pod: a standby now, ready, and it forwards to the new leader.
    leader.process.start()
    wait_until(lambda: leader.live() and leader.ready(), 60, "the restarted replica to be ready")
    assert holder(paramedic) == standby.name
    code, body = webhook(leader.ports["webhook"], alert(paramedic, "db"))
    assert code == 200, body
    acted_once(paramedic, body, "db")

    assert paramedic.deployment("web")["spec"]["replicas"] == 2  # not scaled again by the new leader
    assert len(remediations(paramedic, runbook)) == 3  # one per alert: exactly one replica acted on each


def test_a_standby_forwards_only_to_a_fresh_record_of_the_holders_address(clients: Any, namespace: str) -> None:
    """Two electors on a Lease of their own, each with its own clock: the standby names the leader's recorded
    address while the record keeps being renewed, and nothing once it has stood unrenewed for the renew
    deadline (the holder has stopped acting; its pod IP may be another pod's by now); the next holder records
    its own."""
    from paramedic.leader import ADDRESS, Elector

    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

    leader_clock, standby_clock = Clock(), Clock()
    name = "forwarding-" + namespace
    leader = Elector(clients, namespace, name, 10, 6, 1, me="a", clock=leader_clock, address="10.1.2.3:9095")
    standby = Elector(clients, namespace, name, 10, 6, 1, me="b", clock=standby_clock, address="10.1.2.4:9095")
    assert leader.try_acquire()
    lease = client.CoordinationV1Api(clients.api_client).read_namespaced_lease(name, namespace)
    assert lease.metadata.annotations[ADDRESS] == "10.1.2.3:9095"
    assert leader.leader_address() is None  # the holder decides itself
    assert not standby.try_acquire()
    assert standby.leader_address() == ("10.1.2.3", 9095)
    standby_clock.now = 5.9
    assert not standby.try_acquire()  # unchanged, but within the renew deadline
    assert standby.leader_address() == ("10.1.2.3", 9095)
    standby_clock.now = 6.0
    assert standby.leader_address() is None  # unrenewed for the renew deadline: not acting any more
    leader_clock.now = 1.0
    assert leader.try_acquire()  # renewed: a new record, fresh again
    assert not standby.try_acquire()
    assert standby.leader_address() == ("10.1.2.3", 9095)
    leader.release()  # handed over: the standby takes it at once and records its own address
    assert standby.try_acquire()
    assert standby.leader_address() is None
    lease = client.CoordinationV1Api(clients.api_client).read_namespaced_lease(name, namespace)
    assert lease.metadata.annotations[ADDRESS] == "10.1.2.4:9095"
