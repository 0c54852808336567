"""`paramedic approve` and `paramedic history` against the real control plane."""

from __future__ import annotations

import json
import subprocess
import sys

from paramedic.devcluster.cluster import DevCluster
from tests.kit import Kit


def cli(cluster: DevCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paramedic", *args], env=cluster.env(), capture_output=True, text=True, timeout=60
    )


def test_approve_then_history(paramedic: Kit, cluster: DevCluster) -> None:
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook({"requiresApproval": True, "steps": [{"scale": {"replicas": 2}}]}, name="gated")
    rem = paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"})
    paramedic.wait_phase(rem, "AwaitingApproval")

    missing = cli(cluster, "approve", "-n", paramedic.namespace, "no-such-remediation")
    assert missing.returncode == 1
    assert "404" in missing.stderr
    approved = cli(cluster, "approve", "-n", paramedic.namespace, rem)
    assert approved.returncode == 0, approved.stderr
    paramedic.wait_phase(rem, "Succeeded")

    table = cli(cluster, "history", "-n", paramedic.namespace)
    assert table.returncode == 0
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == ["NAMESPACE", "NAME", "RUNBOOK", "TARGET", "TRIGGER", "PHASE", "STARTED", "DURATION"]
    assert row.split()[:6] == [
        paramedic.namespace,
        rem,
        "gated",
        f"Deployment/{paramedic.namespace}/api",
        "manual",
        "Succeeded",
    ]
    rows = json.loads(cli(cluster, "history", "-n", paramedic.namespace, "-o", "json").stdout)
    assert rows[0]["name"] == rem
    assert rows[0]["duration"] >= 0
