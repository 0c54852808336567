"""One real node beside the KWOK nodes: the pinned release's kubelet on Debian's containerd and runc.

Everything else in the local cluster is real but the kubelets: KWOK writes pod states. This node runs
containers for real, so a container that exits non-zero really crash-loops (the kubelet writes
CrashLoopBackOff), one over its memory limit is really OOM-killed by the kernel, and a Job's psql or redis-cli
really runs. It is tainted (``paramedic.dev/real-node=true:NoSchedule``): only pods that tolerate it and select
it (``placement()``) land there.

What this host needs, all found out here (docs/devcluster.md, "A real node"):

- the kubelet is built from the pinned k8s.io/kubernetes release like the control plane (build.Builder), and
  runs on cgroup v1 only with ``failCgroupV1: false`` (it refuses v1 by default since 1.35);
- containerd 1.6 from Debian with ``restrict_oom_score_adj`` (root here lacks CAP_SYS_RESOURCE, so runc cannot
  give the pod sandbox its oom_score_adj of -998) and a sandbox ("pause") image of our own: no registry;
- no pod network: the CNI configuration is loopback only, on which containerd cannot set up a pod network
  namespace, so pods on this node use ``hostNetwork`` (they reach the loopback PostgreSQL and Redis directly).
  No bridge, no private addresses, nothing changed in the host's network;
- images are imported into containerd from podman's storage (``podman save`` | ``ctr import``).

The kubelet sets ``kernel.panic``, ``kernel.panic_on_oops`` and ``vm.overcommit_memory`` when it starts (it
would refuse to start with ``protectKernelDefaults`` instead): ``stop()`` puts back what they were.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from . import build, image
from .cluster import DevCluster
from .processes import Process, wait_for

NAME = "real-node-0"
LABEL = "paramedic.dev/real-node"
#: The host's tools the node needs, besides image.TOOLS (the images it runs are built with podman).
TOOLS = ("containerd", "ctr", "runc", "go")
PAUSE = ("sleep", "infinity")  # the sandbox only holds the pod's namespaces
#: The tools image the seed Job steps run in on this node: Debian's psql and redis-cli.
TOOLS_PACKAGES = ("postgresql-client", "redis-tools")
_SYSCTLS = ("kernel/panic", "kernel/panic_on_oops", "vm/overcommit_memory")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None] + image.missing_tools()


def placement() -> dict[str, Any]:
    """The pod-spec fields that put a pod on the real node (merge them into a pod template's spec)."""
    return {
        "nodeSelector": {LABEL: "true"},
        "tolerations": [{"key": LABEL, "operator": "Exists", "effect": "NoSchedule"}],
        "hostNetwork": True,
    }


def ensure_kubelet(progress: build.Progress | None = None) -> Path:
    """The kubelet of the pinned release, built once into the cache beside the control plane's binaries."""
    versions = build.Versions.pinned()
    root = build.cache_root() / "node" / versions.key
    kubelet = root / "bin" / "kubelet"
    if kubelet.exists():
        return kubelet
    (root / "bin").mkdir(parents=True, exist_ok=True)
    builder = build.Builder(versions, root, progress or build.Progress(label="node"))
    builder.log_path.write_text(f"kubelet build of {versions}\n")
    module, ldflags = builder.kubernetes_module()
    builder._go_build(module, "kubelet", "k8s.io/kubernetes/cmd/kubelet", ldflags)
    return kubelet


class RealNode:
    """Start with ``start()`` (after the cluster), stop with ``stop()``; ``images`` are podman images to make
    available to the node's pods (use them with ``imagePullPolicy: Never``)."""

    def __init__(self, cluster: DevCluster, images: Sequence[str] = ()) -> None:
        self.cluster = cluster
        self.images = list(images)
        self.dir = Path(tempfile.mkdtemp(prefix="paramedic-node-", dir=cluster.workdir))
        self.socket = self.dir / "containerd.sock"
        self.processes: dict[str, Process] = {}
        self._sysctls: dict[str, str] = {}

    def start(self) -> None:
        kubelet = ensure_kubelet()
        pause = image.base_image(image.PYTHON_BASE, "paramedic-pause", PAUSE)
        self._start_containerd(pause)
        for ref in {pause, *self.images}:
            self.load(ref)
        self._sysctls = {name: (Path("/proc/sys") / name).read_text().strip() for name in _SYSCTLS}
        self._start_kubelet(kubelet)

    def stop(self) -> None:
        if "kubelet" in self.processes:
            self.processes.pop("kubelet").stop()
            self._delete_node()
        if "containerd" in self.processes:
            self._remove_containers()
            self.processes.pop("containerd").stop()
        self._unmount()
        # The kubelet links every container's log from the fixed /var/log/containers: remove our links.
        for link in Path("/var/log/containers").glob("*.log"):
            if link.is_symlink() and str(link.readlink()).startswith(str(self.dir)):
                link.unlink()
        for name, value in self._sysctls.items():
            (Path("/proc/sys") / name).write_text(value)

    # -- containerd ---------------------------------------------------------------------------------------------

    def ctr(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def _start_containerd(self, pause: str) -> None:
        cni = self.dir / "cni"
        cni.mkdir()
        # Loopback only: no pod network on this host (pods here use hostNetwork).
        plugins = {"cniVersion": "0.4.0", "name": "paramedic-loopback", "plugins": [{"type": "loopback"}]}
        (cni / "10-loopback.conflist").write_text(json.dumps(plugins))
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config = f"""version = 2
root = "{self.dir / "root"}"
state = "{self.dir / "state"}"
[grpc]
  address = "{self.socket}"
[{cri}]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = true
[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{cni}"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
  [{cri}.containerd.runtimes.runc.options]
    SystemdCgroup = false
"""
        (self.dir / "containerd.toml").write_text(config)
        containerd = self.processes["containerd"] = Process(
            "containerd", ["containerd", "--config", str(self.dir / "containerd.toml")], self.dir / "containerd.log"
        )
        containerd.start()
        wait_for(lambda: self.ctr("version", timeout=10), 60, "containerd", [containerd])

    def load(self, ref: str) -> None:
        """Make a podman image available to the node's pods (which must not pull it: there is no registry)."""
        archive = self.dir / "image.tar"
        image.run(["podman", "save", "--format", "oci-archive", "-o", str(archive), ref], self.dir / "import.log")
        self.ctr("images", "import", "--base-name", ref.rsplit(":", 1)[0], str(archive), timeout=600)
        archive.unlink()

    def _remove_containers(self) -> None:
        """Containers outlive containerd (their shims are their parents): kill and delete every one."""
        try:
            tasks = self.ctr("tasks", "ls", "-q", timeout=30).split()
        except (RuntimeError, subprocess.TimeoutExpired):
            return  # containerd is gone: its log says why
        for task in tasks:
            subprocess.run(
                ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", "tasks", "delete", "--force", task],
                capture_output=True,
                timeout=60,
                check=False,
            )

    def _unmount(self) -> None:
        """Whatever the kubelet and containerd left mounted under our folder (secret volumes, root file systems)."""
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(str(self.dir))), key=len, reverse=True):
            subprocess.run(["umount", "--lazy", mount], capture_output=True, check=False)

    # -- the kubelet --------------------------------------------------------------------------------------------

    def _start_kubelet(self, kubelet: Path) -> None:
        # A node's identity; system:masters as the other components of this test cluster (RBAC alone, no Node
        # authorizer to give system:nodes its rights).
        kubeconfig = self.cluster.user_kubeconfig("kubelet", f"system:node:{NAME}", "system:masters")
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,  # this host has the cgroup v1 hierarchy only
            "cgroupDriver": "cgroupfs",  # no systemd here
            "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "address": "127.0.0.1",
            "port": 0,
            "readOnlyPort": 0,
            "healthzPort": 0,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": False},
                "x509": {"clientCAFile": str(self.cluster.ca.cert_path)},
            },
            "authorization": {"mode": "AlwaysAllow"},
            # The disk is shared with the whole machine: no eviction or image GC for its fill level.
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "registerWithTaints": [{"key": LABEL, "value": "true", "effect": "NoSchedule"}],
            "resolvConf": "",
            "podLogsDir": str(self.dir / "pods"),  # not the host's /var/log/pods
            "serializeImagePulls": False,
        }
        (self.dir / "kubelet.yaml").write_text(yaml.safe_dump(config))
        process = self.processes["kubelet"] = Process(
            "kubelet",
            [
                str(kubelet),
                f"--config={self.dir / 'kubelet.yaml'}",
                f"--kubeconfig={kubeconfig}",
                f"--hostname-override={NAME}",
                f"--root-dir={self.dir / 'kubelet'}",
                f"--cert-dir={self.dir / 'kubelet-pki'}",
                f"--node-labels={LABEL}=true",
                "--v=1",
            ],
            self.dir / "kubelet.log",
        )
        process.start()
        wait_for(self._ready, 120, f"the real node {NAME} to be Ready", [process])

    def _node(self) -> dict[str, Any] | None:
        from kubernetes import client

        api = self.cluster.api_client()
        try:
            node: dict[str, Any] = api.sanitize_for_serialization(client.CoreV1Api(api).read_node(NAME))
            return node
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        finally:
            api.close()

    def _ready(self) -> bool:
        node = self._node()
        conditions = {c["type"]: c["status"] for c in (node or {}).get("status", {}).get("conditions", [])}
        return conditions.get("Ready") == "True"

    def _delete_node(self) -> None:
        """The Node object goes with the kubelet: a NotReady node left behind would be any other test's trigger."""
        from kubernetes import client

        api = self.cluster.api_client()
        try:
            client.CoreV1Api(api).delete_node(NAME)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        finally:
            api.close()

    def container_log(self, namespace: str, pod: str, container: str) -> str:
        """What a container of a pod on this node has written (the kubelet's CRI log files), or ''."""
        files = sorted((self.dir / "pods").glob(f"{namespace}_{pod}_*/{container}/*.log"))
        return "".join(f.read_text(errors="replace") for f in files)

    def log(self, component: str = "kubelet", lines: int = 40) -> str:
        return self.processes[component].tail(lines) if component in self.processes else ""


def prepare(progress: build.Progress | None = None) -> None:
    """Build or find in the caches what the real-node tests need (the kubelet, the base, pause and tools
    images), so that no test pays for a first build (``make test`` runs this before pytest)."""
    progress = progress or build.Progress(label="node")
    # The kubelet's build is CPU-bound and the bootstraps wait on the Debian archive: side by side, on a cold
    # machine the slower of the two is all it costs.
    with ThreadPoolExecutor(max_workers=2) as pool:
        kubelet = pool.submit(ensure_kubelet, progress)
        image.base_image(image.PYTHON_BASE)
        image.base_image(image.PYTHON_BASE, "paramedic-pause", PAUSE)
        image.base_image(TOOLS_PACKAGES, "paramedic-tools")
        kubelet.result()


def main() -> int:
    """``python -m paramedic_dev.node``: prepare() where the tools are installed; say what is missing if not."""
    if missing := missing_tools():
        print(f"real node: skipped, not installed: {', '.join(missing)} (make system-deps installs them)")
        return 0
    try:
        prepare()
    except (build.BuildError, image.ImageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
