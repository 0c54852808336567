"""`paramedic approve` and `paramedic history` against the real control plane."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from paramedic_dev.cluster import DevCluster
from tests.cluster.conftest import APPROVER_GROUP
from tests.kit import Kit


def cli(cluster: DevCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paramedic", *args], env=cluster.env(), capture_output=True, text=True, timeout=60
    )


def test_approve_then_history(paramedic: Kit, cluster: DevCluster) -> None:
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook(
        {"requiresApproval": True, "approvers": {"groups": [APPROVER_GROUP]}, "steps": [{"scale": {"replicas": 2}}]},
        name="gated",
    )
    rem = paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"})
    paramedic.wait_phase(rem, "AwaitingApproval")

    missing = cli(cluster, "approve", "-n", paramedic.namespace, "no-such-remediation")
    assert missing.returncode == 1
    assert "404" in missing.stderr
    approved = cli(cluster, "approve", "-n", paramedic.namespace, rem)
    assert approved.returncode == 0, approved.stderr
    me = paramedic.clients.whoami()  # the CLI asked the API server who it is
    assert approved.stdout.strip() == f"remediation {paramedic.namespace}/{rem} approved by {me}"
    assert paramedic.wait_phase(rem, "Succeeded")["approval"]["approvedBy"] == me

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


def test_plan_prints_what_would_change_and_changes_nothing(paramedic: Kit, cluster: DevCluster, tmp_path: Any) -> None:
    paramedic.deploy("api", replicas=2)
    runbook = paramedic.runbook({"steps": [{"scale": {"by": 3}}]}, name="grow")
    before = paramedic.deployment("api")["metadata"]["resourceVersion"]
    path = tmp_path / "rem.yaml"
    path.write_text(
        "apiVersion: paramedic.dev/v1alpha1\nkind: Remediation\nmetadata: {name: grow-api}\n"
        f"spec: {{runbookRef: {{name: {runbook}}}, target: {{apiVersion: apps/v1, kind: Deployment, name: api}}}}\n"
    )
    result = cli(cluster, "plan", "-n", paramedic.namespace, "-f", str(path))
    assert result.returncode == 0, result.stderr
    assert "1. scale: scale Deployment/" in result.stdout
    assert "to: 5" in result.stdout
    assert paramedic.deployment("api")["metadata"]["resourceVersion"] == before
    remaining = paramedic.clients.custom.list_namespaced_custom_object(
        "paramedic.dev", "v1alpha1", paramedic.namespace, "remediations"
    )["items"]
    assert remaining == []
