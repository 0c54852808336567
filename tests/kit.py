"""Test helpers: create paramedic resources and wait for their outcome."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from paramedic.api.common import API_VERSION, GROUP, VERSION
from paramedic.api.remediation import TERMINAL_PHASES
from paramedic.kube import Clients
from paramedic_dev import objects
from paramedic_dev.install import OperatorProcess
from tests.waiting import wait_until


def deployment(
    name: str,
    replicas: int = 2,
    memory: str | None = None,
    image: str = "registry.invalid/app:1",
    node_selector: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The dev cluster's Deployment (``paramedic_dev.objects``), with a memory limit or a node selector."""
    body = objects.deployment(name, replicas, image=image)
    pod_spec = body["spec"]["template"]["spec"]
    if memory:
        pod_spec["containers"][0]["resources"] = {"limits": {"memory": memory}}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    return body


def statefulset(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A one-replica StatefulSet whose pods select ``app=<name>`` (no pod is ever ready: its image resolves
    nowhere), carrying ``labels`` of its own."""
    return {
        "metadata": {"name": name, **({"labels": labels} if labels else {})},
        "spec": {
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": f"registry.invalid/{name}:16"}]},
            },
        },
    }


def gated_job(gate: str) -> dict[str, Any]:
    """A runJob step whose pod can only run once a node carries the label ``gate=open``:
    the step waits there until the test opens it."""
    pod = {"nodeSelector": {gate: "open"}, "containers": [{"name": "sql", "image": "registry.invalid/psql:16"}]}
    return {"runJob": {"template": {"spec": {"template": {"spec": pod}}}}, "timeout": "3m"}


def impersonating(kubeconfig: str, user: str, group: str) -> Clients:
    """Clients that act as ``user`` in ``group`` (the API server adds system:authenticated),
    through the admin's credentials and Kubernetes impersonation: what a namespace user may do."""
    from kubernetes import config

    api_client = config.new_client_from_config(config_file=kubeconfig)
    api_client.set_default_header("Impersonate-User", user)
    api_client.set_default_header("Impersonate-Group", group)
    return Clients(api_client)


@dataclasses.dataclass
class Kit:
    clients: Clients
    namespace: str
    operator: OperatorProcess
    #: The impersonated user (empty: the cluster admin); Remediations it creates name it in spec.requestedBy.
    user: str = ""

    def at(self, namespace: str) -> Kit:
        """The same helpers in another namespace, e.g. the operator's, where node Remediations live."""
        return dataclasses.replace(self, namespace=namespace)

    # -- creating ---------------------------------------------------------------------

    def runbook(self, spec: dict[str, Any], name: str | None = None) -> str:
        name = name or f"rb-{uuid.uuid4().hex[:6]}"
        body = {"apiVersion": API_VERSION, "kind": "Runbook", "metadata": {"name": name}, "spec": spec}
        self.clients.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, "runbooks", body)
        return name

    def cluster_runbook(self, spec: dict[str, Any], name: str | None = None) -> str:
        name = name or f"crb-{uuid.uuid4().hex[:6]}"
        body = {"apiVersion": API_VERSION, "kind": "ClusterRunbook", "metadata": {"name": name}, "spec": spec}
        self.clients.custom.create_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", body)
        return name

    def remediation(
        self, runbook: str, target: dict[str, Any], *, kind: str = "Runbook", name: str | None = None, **spec: Any
    ) -> str:
        name = name or f"rem-{uuid.uuid4().hex[:6]}"
        body = {
            "apiVersion": API_VERSION,
            "kind": "Remediation",
            "metadata": {"name": name},
            "spec": {"runbookRef": {"kind": kind, "name": runbook}, "target": target, **spec},
        }
        if self.user:
            body["spec"].setdefault("requestedBy", self.user)
        self.clients.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, "remediations", body)
        return name

    def approve(self, name: str, by: str | None = None) -> dict[str, Any]:
        """Approve as this Kit's identity (``by`` names someone else, which the admission policy refuses)."""
        return self.patch(name, {"approved": True, "approvedBy": by or self.clients.whoami()})

    def resolve(self, name: str, by: str | None = None) -> dict[str, Any]:
        return self.patch(name, {"resolved": True, "resolvedBy": by or self.clients.whoami()})

    def patch(self, name: str, spec: dict[str, Any], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"spec": spec, **({"metadata": metadata} if metadata else {})}
        obj: dict[str, Any] = self.clients.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "remediations", name, body
        )
        return obj

    def deploy(self, name: str, replicas: int = 2, **kwargs: Any) -> dict[str, Any]:
        self.clients.apps.create_namespaced_deployment(self.namespace, deployment(name, replicas, **kwargs))
        return self.wait_rolled_out(name, replicas)

    # -- reading ----------------------------------------------------------------------

    def get(self, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self.clients.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "remediations", name
        )
        return obj

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.get(name).get("status") or {})

    def wait_phase(self, name: str, *phases: str, timeout: float = 60) -> dict[str, Any]:
        wanted = set(phases) or set(TERMINAL_PHASES)

        def reached() -> dict[str, Any] | None:
            status = self.status(name)
            if status.get("phase") in wanted:
                return status
            if status.get("phase") in TERMINAL_PHASES:
                raise AssertionError(f"{name} ended {status.get('phase')}: {status.get('message')}")
            return None

        try:
            return wait_until(reached, timeout, f"remediation {name} to reach {sorted(wanted)}")
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\nstatus: {self.status(name)}\noperator log: {self.operator.tail(40)}"
            ) from None

    def deployment(self, name: str) -> dict[str, Any]:
        return self.clients.plain(self.clients.apps.read_namespaced_deployment(name, self.namespace))

    def wait_rolled_out(self, name: str, replicas: int) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            d = self.deployment(name)
            s = d.get("status") or {}
            ok = (
                s.get("observedGeneration", 0) >= d["metadata"]["generation"]
                and s.get("updatedReplicas", 0) == replicas
                and s.get("availableReplicas", 0) == replicas
                and s.get("replicas", 0) == replicas
            )
            return d if ok else None

        return wait_until(done, 60, f"deployment {name} to roll out {replicas} replicas")

    def events(self, kind: str, name: str) -> list[str]:
        found = self.clients.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.kind={kind},involvedObject.name={name}"
        )
        # An aggregated Event (records/events.py) stands for ``count`` identical ones.
        return [f"{e.reason}: {e.message}" for e in found.items for _ in range(e.count or 1)]


def fleet_crash(kit: Kit, policy: str) -> str:
    """The storm tests' runbook: delete any crash-looping pod of the Deployment ``fleet``, under ``policy``."""
    return kit.runbook(
        {
            "trigger": {"podCrashLoop": {"minRestarts": 1}},
            "target": {"selector": {"matchLabels": {"app": "fleet"}}},
            "rateLimitPolicyRef": {"name": policy},
            "steps": [{"deletePod": {}}],
        },
        name="fleet-crash",
    )
