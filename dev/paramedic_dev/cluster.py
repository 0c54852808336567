"""Start and stop a local control plane: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and KWOK, as plain processes.

Processes are started directly (as controller-runtime's envtest does) rather
than through kwokctl: the test-suite needs to stop and restart the API server
alone, choose which controllers run, and read each component's log, and
direct control keeps those one method call each.
"""

from __future__ import annotations

import atexit
import json
import shutil
import socket
import ssl
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from . import build, pki, podlogs
from .objects import FAKE_NODE_ANNOTATION, fake_node
from .processes import Process, wait_for

SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class DevCluster:
    """A real control plane on loopback with fake (KWOK) nodes.

    Use as a context manager, or call start() and stop(). Every process dies
    with the Python process that started it.
    """

    def __init__(
        self,
        *,
        nodes: int = 3,
        workdir: Path | None = None,
        disabled_controllers: Sequence[str] = (),
        bin_dir: Path | None = None,
        progress: build.Progress | None = None,
        audit_policy: Mapping[str, Any] | None = None,
        component_qps: int | None = None,
    ) -> None:
        """``audit_policy``: an audit Policy, logged to ``audit_log`` (JSON lines). ``component_qps``: the
        client rate of kube-controller-manager and kube-scheduler (at 20/s, 10,000 pods take minutes)."""
        self.node_count = nodes
        self.disabled_controllers = tuple(disabled_controllers)
        self.audit_policy = audit_policy
        self.component_qps = component_qps
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="paramedic-devcluster-")) if workdir is None else workdir
        self._bin_dir = bin_dir
        self._progress = progress or build.Progress()
        self.processes: dict[str, Process] = {}
        self.kubeconfig = self.workdir / "kubeconfig"
        self.apiserver_port = 0
        self.server = ""
        self.audit_log: Path | None = self.workdir / "logs" / "audit.log" if audit_policy is not None else None
        self._started = False

    # -- lifecycle --------------------------------------------------------------

    def __enter__(self) -> DevCluster:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        began = time.monotonic()
        bins = self._bin_dir or build.ensure_binaries(self._progress)
        self.bin = {name: bins / name for name in build.BINARIES}
        atexit.register(self.stop)
        self._started = True
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        self._make_pki()
        self._start_etcd()
        self.apiserver_port = free_port()
        self.server = f"https://127.0.0.1:{self.apiserver_port}"
        self._write_kubeconfigs()
        self.start_apiserver()
        self._start_controllers()
        self._create_nodes()
        self.startup_seconds = time.monotonic() - began
        self._progress.say(
            f"control plane ready at {self.server} in {self.startup_seconds:.1f}s; KUBECONFIG={self.kubeconfig}"
        )

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for name in ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            if name in self.processes:
                self.processes[name].stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- the API server alone, for fault tests ---------------------------------------

    def stop_apiserver(self) -> None:
        self.processes["kube-apiserver"].stop()

    def kill_apiserver(self) -> None:
        self.processes["kube-apiserver"].kill()

    def start_apiserver(self) -> None:
        if "kube-apiserver" not in self.processes:
            self.processes["kube-apiserver"] = self._process("kube-apiserver", self._apiserver_args())
        apiserver = self.processes["kube-apiserver"]
        apiserver.start()
        wait_for(lambda: self._get("/readyz") == "ok", 90, "kube-apiserver /readyz", [apiserver])

    def restart_apiserver(self) -> None:
        self.stop_apiserver()
        self.start_apiserver()

    def restart_etcd(self) -> None:
        """Stop etcd under a running API server and start it again on the same data and ports."""
        etcd = self.processes["etcd"]
        etcd.stop()
        etcd.start()
        wait_for(self._etcd_healthy, 60, "etcd /health", [etcd])
        wait_for(lambda: self._get("/readyz") == "ok", 90, "kube-apiserver /readyz", [self.processes["kube-apiserver"]])

    # -- clients ------------------------------------------------------------------

    def api_client(self) -> Any:
        """A kubernetes.client.ApiClient authenticated as cluster admin."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def user_kubeconfig(self, user: str, common: str, org: str | None = None) -> Path:
        """A kubeconfig for a new client certificate (CN ``common``, O ``org``), e.g. to tell one
        client's requests apart from the others' in the audit log."""
        self.clients[user] = self.ca.issue(user, common, org)
        return self._component_kubeconfig(user)

    def env(self) -> dict[str, str]:
        """The environment for kubectl and other tools: this one's, pointed at the local cluster."""
        import os

        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    # -- internals ----------------------------------------------------------------

    def _process(self, name: str, args: Sequence[str]) -> Process:
        return Process(name, [str(self.bin[name]), *args], self.workdir / "logs" / f"{name}.log")

    def _make_pki(self) -> None:
        pki_dir = self.workdir / "pki"
        self.ca = pki.CertificateAuthority(pki_dir)
        self.serving = self.ca.issue(
            "apiserver",
            "kube-apiserver",
            server_names=(
                "127.0.0.1",
                "localhost",
                "10.96.0.1",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
        )
        self.clients = {
            "admin": self.ca.issue("admin", "paramedic-admin", "system:masters"),
            "kube-controller-manager": self.ca.issue("kcm", "system:kube-controller-manager"),
            "kube-scheduler": self.ca.issue("scheduler", "system:kube-scheduler"),
            "kwok": self.ca.issue("kwok", "kwok-controller", "system:masters"),
        }
        # KWOK's kubelet endpoint serves HTTPS, so the API server can fetch pod logs from it (pod_logs_dir).
        self.kwok_serving = self.ca.issue("kwok-serving", "kwok", server_names=("127.0.0.1", "localhost"))
        self.service_account = pki.service_account_keys(pki_dir)

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        etcd = self.processes["etcd"] = self._process(
            "etcd",
            [
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",  # a throw-away store: durability is not worth the latency
                "--quota-backend-bytes=4294967296",
                "--log-level=warn",
            ],
        )
        etcd.start()
        wait_for(self._etcd_healthy, 60, "etcd /health", [etcd])

    def _etcd_healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2) as response:
            return bool(json.load(response).get("health") == "true")

    def _apiserver_args(self) -> list[str]:
        return [*self._base_apiserver_args(), *self._audit_args()]

    def _audit_args(self) -> list[str]:
        if self.audit_policy is None or self.audit_log is None:
            return []
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(dict(self.audit_policy)))
        return [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",  # each event is on disk when the response is sent
            "--audit-log-maxsize=0",  # never rotated: the reader wants one file
        ]

    def _qps_args(self) -> list[str]:
        qps = self.component_qps
        return [f"--kube-api-qps={qps}", f"--kube-api-burst={2 * qps}"] if qps else []

    def _base_apiserver_args(self) -> list[str]:
        return [
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.apiserver_port}",
            f"--cert-dir={self.workdir / 'pki'}",
            f"--tls-cert-file={self.serving.cert}",
            f"--tls-private-key-file={self.serving.key}",
            f"--client-ca-file={self.ca.cert_path}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={self.server}",
            f"--service-account-key-file={self.service_account.cert}",
            f"--service-account-signing-key-file={self.service_account.key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
            "--v=1",
        ]

    def _start_controllers(self) -> None:
        controllers = ",".join(["*", *(f"-{c}" for c in self.disabled_controllers)])
        kcm = self.processes["kube-controller-manager"] = self._process(
            "kube-controller-manager",
            [
                f"--kubeconfig={self._component_kubeconfig('kube-controller-manager')}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",  # a leader lease would make it exit when the API server restarts
                f"--controllers={controllers}",
                f"--service-account-private-key-file={self.service_account.key}",
                f"--root-ca-file={self.ca.cert_path}",
                # Each controller acts under its own RBAC role, as kubeadm sets it up.
                "--use-service-account-credentials=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--v=1",
                *self._qps_args(),
            ],
        )
        scheduler = self.processes["kube-scheduler"] = self._process(
            "kube-scheduler",
            [
                f"--kubeconfig={self._component_kubeconfig('kube-scheduler')}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                "--v=1",
                *self._qps_args(),
            ],
        )
        self.kwok_port = free_port()
        kwok = self.processes["kwok"] = self._process(
            "kwok",
            [
                f"--kubeconfig={self._component_kubeconfig('kwok')}",
                f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
                "--manage-all-nodes=false",
                f"--cidr={POD_CIDR}",
                "--node-ip=10.0.0.1",
                f"--server-address=127.0.0.1:{self.kwok_port}",
                f"--tls-cert-file={self.kwok_serving.cert}",
                f"--tls-private-key-file={self.kwok_serving.key}",
                f"--config={podlogs.config(self.workdir)}",
                f"--config={resources.files(__package__).joinpath('stages/kwok.yaml')}",
                f"--config={self.bin['kwok'].parent / 'kwok-stages.yaml'}",
                "--node-lease-duration-seconds=40",
            ],
        )
        for process in (kcm, scheduler, kwok):
            process.start()
        # The service-account controller (kube-controller-manager) has run once
        # it has created the default namespace's "default" ServiceAccount.
        wait_for(
            lambda: self._get("/api/v1/namespaces/default/serviceaccounts/default"),
            90,
            "kube-controller-manager (the default ServiceAccount)",
            [kcm],
        )
        wait_for(lambda: self._get("/healthz", port=self.kwok_port) == "ok", 60, "kwok /healthz", [kwok])

    @property
    def pod_logs_dir(self) -> Path:
        """The files KWOK serves as every pod's logs (``podlogs``)."""
        return podlogs.directory(self.workdir)

    def _create_nodes(self) -> None:
        names = [f"kwok-node-{i}" for i in range(self.node_count)]
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(names)))) as pool:
            list(pool.map(lambda name: self._post("/api/v1/nodes", fake_node(name)), names))

        def all_ready() -> bool:
            listed = json.loads(self._get("/api/v1/nodes?labelSelector=type%3Dkwok"))
            ready = set()
            for node in listed.get("items", []):
                conditions = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
                if conditions.get("Ready") == "True":
                    ready.add(node["metadata"]["name"])
            return ready.issuperset(names)

        timeout = 60 + len(names) / 10  # KWOK takes 1,000 nodes over in well under two minutes
        wait_for(all_ready, timeout, f"{len(names)} KWOK nodes Ready", [self.processes["kwok"]])

    # -- plain HTTPS to the API server, so start-up needs no client library --------

    def _ssl(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca.cert_path))
        admin = self.clients["admin"]
        context.load_cert_chain(str(admin.cert), str(admin.key))
        return context

    def _get(self, path: str, *, port: int | None = None, tls: bool = True) -> str:
        scheme = "https" if tls else "http"
        url = f"{scheme}://127.0.0.1:{port or self.apiserver_port}{path}"
        with urllib.request.urlopen(url, timeout=5, context=self._ssl() if tls else None) as response:
            return str(response.read().decode())

    def _post(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(
            f"{self.server}{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10, context=self._ssl()):
            pass

    def _kubeconfig(self, user: str) -> dict[str, Any]:
        pair = self.clients[user]
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "paramedic-dev",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca.cert_path)},
                }
            ],
            "users": [{"name": user, "user": {"client-certificate": str(pair.cert), "client-key": str(pair.key)}}],
            "contexts": [{"name": "paramedic-dev", "context": {"cluster": "paramedic-dev", "user": user}}],
            "current-context": "paramedic-dev",
        }

    def _write_kubeconfigs(self) -> None:
        self.kubeconfig.write_text(yaml.safe_dump(self._kubeconfig("admin")))

    def _component_kubeconfig(self, user: str) -> Path:
        path = self.workdir / f"{user}.kubeconfig"
        path.write_text(yaml.safe_dump(self._kubeconfig(user)))
        return path
