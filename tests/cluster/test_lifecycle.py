"""Starting, restarting and stopping the control plane leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from paramedic_dev.cluster import DevCluster
from tests.waiting import wait_until

COMPONENTS = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(child) for child in text)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture
def devcluster_process() -> Iterator[tuple[subprocess.Popen[str], set[int]]]:
    """`paramedic-devcluster up` in its own process, with the pids of its components."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "paramedic_dev", "up", "--nodes", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("export KUBECONFIG="), line
        pids = children(proc.pid)
        names = {Path(Path(f"/proc/{pid}/cmdline").read_text().split("\0")[0]).name for pid in pids}
        assert names == COMPONENTS
        yield proc, pids
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_ctrl_c_stops_every_component(devcluster_process: tuple[subprocess.Popen[str], set[int]]) -> None:
    proc, pids = devcluster_process
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    assert not [pid for pid in pids if alive(pid)]


def test_components_die_with_a_killed_parent(devcluster_process: tuple[subprocess.Popen[str], set[int]]) -> None:
    proc, pids = devcluster_process
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    wait_until(lambda: not [pid for pid in pids if alive(pid)], 30, "every component to exit")


def test_apiserver_restart_keeps_state(cluster: DevCluster, core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "kept"}, "data": {"k": "v"}})
    old_pid = cluster.processes["kube-apiserver"].pid
    cluster.restart_apiserver()
    assert cluster.processes["kube-apiserver"].pid != old_pid
    assert core.read_namespaced_config_map("kept", namespace).data == {"k": "v"}
