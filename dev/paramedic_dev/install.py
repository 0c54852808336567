"""Install paramedic into a local cluster: CRDs, its namespace, and the
operator as a separate process (killable, like a pod, for restart tests)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from paramedic.api import crdgen
from paramedic.api.resources import RESOURCES
from paramedic.kube import ApiException, Clients

from .processes import Process, wait_for


def apply_crds(clients: Clients) -> None:
    """Create or update paramedic's CRDs (generated from the models) and wait until they are served."""
    from kubernetes import client

    ext = client.ApiextensionsV1Api(clients.api_client)
    names = []
    for resource in RESOURCES:
        body = crdgen.crd(resource)
        name = body["metadata"]["name"]
        names.append(name)
        try:
            current = ext.read_custom_resource_definition(name)
            body["metadata"]["resourceVersion"] = current.metadata.resource_version
            ext.replace_custom_resource_definition(name, body)
        except ApiException as exc:
            if exc.status != 404:
                raise
            ext.create_custom_resource_definition(body)

    def established() -> bool:
        for name in names:
            crd = ext.read_custom_resource_definition(name)
            conditions = {c.type: c.status for c in crd.status.conditions or []}
            if conditions.get("Established") != "True":
                return False
        return True

    wait_for(established, 30, "paramedic CRDs to be established")


def ensure_namespace(clients: Clients, name: str, labels: dict[str, str] | None = None) -> None:
    body: dict[str, Any] = {"metadata": {"name": name, "labels": labels or {}}}
    try:
        clients.core.create_namespace(body)
    except ApiException as exc:
        if exc.status != 409:
            raise


class OperatorProcess(Process):
    """``paramedic run`` against a kubeconfig, logging to a file."""

    def __init__(
        self,
        kubeconfig: Path,
        log: Path,
        namespace: str = "paramedic-system",
        *extra: str,
        env: dict[str, str] | None = None,
    ) -> None:
        argv = [sys.executable, "-m", "paramedic", "run", "--kubeconfig", str(kubeconfig), "--namespace", namespace]
        super().__init__("paramedic", [*argv, *extra], log, env=env)

    def start_and_wait(self, timeout: float = 60) -> None:
        """Start, and return once Kopf has begun watching (its log says so)."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        self.start()

        def watching() -> bool:
            text = self.log.read_bytes()[offset:].decode(errors="replace")
            return "Initial authentication has finished" in text

        wait_for(watching, timeout, "the operator to start", [self])
