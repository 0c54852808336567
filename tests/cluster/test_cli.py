"""`paramedic approve` and `paramedic history` against the real control plane."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from paramedic_dev.cluster import DevCluster
from tests.cluster.conftest import APPROVER_GROUP, TENANT_GROUP
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
    assert missing.returncode == 2  # a user error (docs: exit codes), one line, no traceback
    expected = f"paramedic approve: cannot approve {paramedic.namespace}/no-such-remediation: 404"
    assert missing.stderr.startswith(expected)
    assert "Traceback" not in missing.stderr
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


def test_namespace_and_context_come_from_the_kubeconfig(paramedic: Kit, cluster: DevCluster, tmp_path: Any) -> None:
    """Without -n the context's namespace is used (as kubectl does); --context picks another context."""
    import yaml

    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook({"steps": [{"scale": {"replicas": 2}}]}, name="grow")
    rem = paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"})
    paramedic.wait_phase(rem, "Succeeded")

    config = yaml.safe_load(cluster.kubeconfig.read_text())
    [context] = [c for c in config["contexts"] if c["name"] == config["current-context"]]
    config["contexts"] = [
        {"name": "team", "context": {**context["context"], "namespace": paramedic.namespace}},
        {"name": "elsewhere", "context": {**context["context"], "namespace": "kube-public"}},
    ]
    config["current-context"] = "team"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))

    def names(*args: str) -> list[str]:
        result = cli(cluster, "history", "--kubeconfig", str(path), "-o", "yaml", *args)
        assert result.returncode == 0, result.stderr
        return [row["name"] for row in yaml.safe_load(result.stdout) or []]

    assert names() == [rem]  # the current context's namespace, not default
    assert names("--context", "elsewhere") == []
    assert names("--context", "elsewhere", "-n", paramedic.namespace) == [rem]  # -n wins over the context
    rows = yaml.safe_load(cli(cluster, "history", "--kubeconfig", str(path), "-o", "yaml").stdout)
    assert rows[0]["runbook"] == "grow"
    assert rows[0]["phase"] == "Succeeded"
    unknown = cli(cluster, "history", "--kubeconfig", str(path), "--context", "staging")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "paramedic history: no context 'staging' in the kubeconfig"


def test_a_refused_approval_exits_2_without_a_traceback(tenant: Kit, paramedic: Kit, cluster: DevCluster) -> None:
    """The admission policy refuses the requester's own approval: the CLI prints its message, exit code 2."""
    paramedic.deploy("api", replicas=1)
    runbook = tenant.runbook(
        {"requiresApproval": True, "approvers": {"groups": [APPROVER_GROUP]}, "steps": [{"scale": {"replicas": 2}}]}
    )
    rem = tenant.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"})
    paramedic.wait_phase(rem, "AwaitingApproval")
    refused = subprocess.run(
        [sys.executable, "-m", "paramedic", "approve", "-n", tenant.namespace, rem],
        # A client certificate for the tenant's user (CN) in its group (O): the CLI approves as them.
        env={**cluster.env(), "KUBECONFIG": str(cluster.user_kubeconfig("cli-alice", tenant.user, TENANT_GROUP))},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    assert "requested this Remediation and cannot approve it" in refused.stderr


def test_shell_completion_offers_namespaces_and_remediations_awaiting_approval(
    paramedic: Kit, cluster: DevCluster, tmp_path: Any
) -> None:
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook(
        {"requiresApproval": True, "approvers": {"groups": [APPROVER_GROUP]}, "steps": [{"scale": {"replicas": 2}}]}
    )
    waiting = paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"})
    paramedic.wait_phase(waiting, "AwaitingApproval")
    done = paramedic.remediation(
        paramedic.runbook({"steps": [{"scale": {"replicas": 1}}]}),
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
    )
    paramedic.wait_phase(done, "Succeeded")
    answers = tmp_path / "answers"

    def complete(line: str) -> set[str]:
        env = {
            **cluster.env(),
            "_ARGCOMPLETE": "1",
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
            "_ARGCOMPLETE_STDOUT_FILENAME": str(answers),
        }
        result = subprocess.run([sys.executable, "-m", "paramedic"], env=env, capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return set(answers.read_text().split())

    names = {a for a in complete(f"paramedic approve -n {paramedic.namespace} ") if not a.startswith("-")}
    assert names == {waiting}  # not the finished one
    assert paramedic.namespace in complete(f"paramedic history -n {paramedic.namespace[:6]}")
