"""Pod logs on the local control plane: what KWOK serves when the API server asks a fake node for them.

KWOK's debugging handlers (``stages/kwok.yaml``) serve the kubelet's
``/containerLogs`` over HTTPS; the ClusterLogs written here makes every pod's
logs the files of ``directory(workdir)``: ``current.log``, and
``previous.log`` for ``--previous``, in the CRI log format
(``2026-11-25T10:00:00.000000000Z stdout F a line``). The API server reaches
them only for pods on a node whose kubelet endpoint is KWOK's (InternalIP
127.0.0.1, Hostname localhost, daemonEndpoints on KWOK's port).
"""

from __future__ import annotations

from pathlib import Path

import yaml


def directory(workdir: Path) -> Path:
    return workdir / "pod-logs"


def config(workdir: Path) -> Path:
    """The ClusterLogs for ``kwok --config``, with empty log files to start from."""
    logs = directory(workdir)
    logs.mkdir(parents=True, exist_ok=True)
    for name in ("current.log", "previous.log"):
        (logs / name).touch()
    path = workdir / "kwok-logs.yaml"
    spec = {"logs": [{"logsFile": str(logs / "current.log"), "previousLogsFile": str(logs / "previous.log")}]}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "ClusterLogs",
                "metadata": {"name": "pod-logs"},
                "spec": spec,
            }
        )
    )
    return path
