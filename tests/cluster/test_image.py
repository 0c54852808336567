"""The operator's container image, built here from the Dockerfile and run with podman: its user, its contents,
and the operator inside it remediating on the local control plane under the ServiceAccount and RBAC of deploy/,
configured in-cluster (token, CA and namespace mounted where a pod has them) as it would be in a pod."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from paramedic_dev import image
from paramedic_dev.cluster import DevCluster, free_port
from paramedic_dev.processes import Process, wait_for
from tests.cluster.conftest import OPERATOR_NAMESPACE, kubectl
from tests.cluster.realnode import operator_image
from tests.kit import Kit

__all__ = ["operator_image"]  # the session fixture, imported to be used here
pytestmark = pytest.mark.skipif(
    bool(image.missing_tools()),
    reason=f"building and running images needs {', '.join(image.missing_tools())} (`make system-deps` installs them)",
)

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "base"
PAINTBOX = REPO / "examples" / "paintbox"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], env=image.podman_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def in_image(ref: str, script: str) -> subprocess.CompletedProcess[str]:
    return podman("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", ref, "-c", script)


def test_image_runs_as_the_deployments_non_root_user(operator_image: str) -> None:
    result = in_image(operator_image, "id -u; id -g; id -un")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["10001", "10001", "paramedic"]


def test_image_holds_no_build_or_dev_tooling(operator_image: str) -> None:
    # pip ran from its wheel in a build stage: neither pip, the wheels, a compiler nor the dev extras are inside.
    script = (
        "for t in pip pip3 gcc cc make git; do command -v $t; done; ls /wheels 2>&1;"
        " python3 -c 'import pip' 2>&1; python3 -c 'import pytest' 2>&1; python3 -c 'import paramedic_dev' 2>&1"
    )
    out = in_image(operator_image, script).stdout
    assert "No such file" in out
    assert out.count("ModuleNotFoundError") == 3, out
    assert "/bin/" not in out, out
    version = podman("run", "--rm", "--network", "none", operator_image, "--version")
    assert version.returncode == 0, version.stderr
    assert "0.1.0" in version.stdout + version.stderr


class ContainerOperator(Process):
    """``podman run`` of the operator's image in the foreground (its output is this process's log)."""

    def __init__(self, argv: list[str], log: Path, name: str) -> None:
        super().__init__("paramedic-container", argv, log, env=image.podman_env())
        self.container = name

    def start_and_wait(self, timeout: float = 90) -> None:
        self.start()
        wait_for(
            lambda: "Initial authentication has finished" in self.log.read_text(errors="replace"),
            timeout,
            "the operator in its container to start",
            [self],
        )

    def stop(self, grace: float = 10.0) -> None:
        podman("stop", "--time", str(int(grace)), self.container)
        super().stop(grace)
        podman("rm", "--force", "--ignore", self.container)


def service_account_mount(paramedic: Kit, cluster: DevCluster, folder: Path) -> Path:
    """The files a pod of the paramedic ServiceAccount finds in SA_DIR: a bound token, the cluster's CA, the
    namespace; readable by the image's user."""
    token = paramedic.clients.core.create_namespaced_service_account_token(
        "paramedic", OPERATOR_NAMESPACE, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "token").write_text(token)
    (folder / "ca.crt").write_bytes(cluster.ca.cert_path.read_bytes())
    (folder / "namespace").write_text(OPERATOR_NAMESPACE)
    for path in [folder, *folder.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


@pytest.fixture
def operator_in_container(
    paramedic: Kit, cluster: DevCluster, operator_image: str, tmp_path: Path
) -> Iterator[ContainerOperator]:
    """The operator from its image in place of the suite's own process, as the Deployment runs it: uid 10001, a
    read-only root with /tmp in memory, no capabilities, in-cluster configuration from the mounted files."""
    applied = kubectl(cluster, "apply", "-n", OPERATOR_NAMESPACE, "-f", str(DEPLOY / "rbac.yaml"))
    assert applied.returncode == 0, applied.stderr
    mount = service_account_mount(paramedic, cluster, tmp_path / "serviceaccount")
    name = f"paramedic-test-{uuid.uuid4().hex[:6]}"
    argv = [
        "podman",
        "run",
        "--rm",
        "--name",
        name,
        "--network",
        "host",  # the API server listens on loopback
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "all",
        "--security-opt",
        "no-new-privileges",
        "--volume",
        f"{mount}:{SA_DIR}:ro",
        # What the kubelet sets in every pod: the in-cluster client finds the API server through these.
        "--env",
        "KUBERNETES_SERVICE_HOST=127.0.0.1",
        "--env",
        f"KUBERNETES_SERVICE_PORT={cluster.apiserver_port}",
        "--env",
        "POD_NAME=paramedic-image-test",
        operator_image,
        "run",
        "--leader-elect",
        "--lease-duration=4",
        f"--namespace={OPERATOR_NAMESPACE}",
        # Free ports: the host network is shared with everything else on this machine.
        f"--metrics-port={free_port()}",
        f"--webhook-port={free_port()}",
        "--webhook-host=127.0.0.1",
        f"--webhook-token-secret={OPERATOR_NAMESPACE}/alertmanager-webhook",
        f"--liveness=http://127.0.0.1:{free_port()}/healthz",
    ]
    process = ContainerOperator(argv, cluster.workdir / "logs" / f"{name}.log", name)
    paramedic.operator.stop()
    try:
        process.start_and_wait()
        yield process
    finally:
        process.stop()
        paramedic.operator.start_and_wait()


def example(path: Path, namespace: str) -> list[dict[str, Any]]:
    """The documents of an example file, moved into the test's namespace (its Namespace document left out)."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] != "Namespace"]
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
    return docs


def test_operator_from_its_image_remediates(paramedic: Kit, operator_in_container: ContainerOperator) -> None:
    """The paintbox restart-router example, acted on by the operator in its container: the Deployment is really
    restarted (a new ReplicaSet rolled out) and the Remediation succeeds."""
    from paramedic.api.common import GROUP, VERSION

    ns = paramedic.namespace
    router = next(d for d in example(PAINTBOX / "apollo-router.yaml", ns) if d["metadata"]["name"] == "apollo-router")
    paramedic.clients.apps.create_namespaced_deployment(ns, router)
    paramedic.wait_rolled_out("apollo-router", router["spec"]["replicas"])
    (runbook,) = example(PAINTBOX / "runbook-restart-router.yaml", ns)
    # The example's EscalationPolicy is another example's object; this test is about the restart.
    runbook["spec"].pop("escalationPolicyRef")
    paramedic.clients.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "runbooks", runbook)
    (remediation,) = example(PAINTBOX / "remediation-restart-router.yaml", ns)
    paramedic.clients.custom.create_namespaced_custom_object(GROUP, VERSION, ns, "remediations", remediation)

    kit = Kit(paramedic.clients, ns, operator_in_container)  # failures show the container's log
    status = kit.wait_phase(remediation["metadata"]["name"], "Succeeded", timeout=120)
    assert status["steps"][0]["phase"] == "Succeeded"
    template = kit.deployment("apollo-router")["spec"]["template"]["metadata"]
    assert "kubectl.kubernetes.io/restartedAt" in (template.get("annotations") or {})
    log = operator_in_container.log.read_text(errors="replace")
    assert remediation["metadata"]["name"] in log
    assert "Forbidden" not in log
