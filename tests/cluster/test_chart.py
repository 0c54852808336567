"""The Helm chart by the book: it lints and renders, its schema refuses wrong values, two releases claim
no object of each other, its knobs reach the pod, it runs the same pod as the kustomize base, it ships the
alerts and dashboard, and it installs, upgrades and uninstalls on the local control plane."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from paramedic_dev.cluster import DevCluster
from tests.cluster.conftest import OPERATOR_NAMESPACE
from tests.cluster.test_deploy import DEPLOY, kubectl
from tests.kit import Kit

CHART = DEPLOY.parent / "helm" / "paramedic"


def test_helm_chart_lints_renders_and_passes_server_side_dry_run(
    cluster: DevCluster, crds: None, tmp_path: Path
) -> None:
    helm = str(cluster.bin["helm"])
    lint = subprocess.run([helm, "lint", str(CHART)], capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    rendered = subprocess.run(
        [helm, "template", "paramedic", str(CHART), "-n", OPERATOR_NAMESPACE, "--include-crds"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    manifest = tmp_path / "chart.yaml"
    manifest.write_text(rendered)
    result = kubectl(cluster, "apply", "--dry-run=server", "-f", str(manifest))
    assert result.returncode == 0, result.stderr
    assert "deployment.apps/paramedic created (server dry run)" in result.stdout

    documents = [d for d in yaml.safe_load_all(rendered) if d]
    chart_rules = next(
        d
        for d in documents
        if d["kind"] == "ClusterRole" and d["metadata"]["name"] == f"paramedic-{OPERATOR_NAMESPACE}"
    )
    base_rules = next(
        d
        for d in yaml.safe_load_all((DEPLOY / "rbac.yaml").read_text())
        if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "paramedic"
    )
    assert chart_rules["rules"] == base_rules["rules"]  # both install paths grant the same
    args = next(d for d in documents if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--leader-elect" in args
    assert "--log-format=json" in args


def test_helm_values_render_the_outbound_allow_list(cluster: DevCluster) -> None:
    """The admin's allow-list, cluster ranges, Prometheus CA and Alertmanager reach the operator's flags, and
    parse."""
    from paramedic.cli import parser

    values = [
        "outbound.allowedUrlPrefixes={https://prometheus.monitoring.svc:9090,https://hooks.slack.com/}",
        "outbound.clusterCIDRs={10.96.0.0/12,10.244.0.0/16}",
        "prometheus.caFile=/etc/paramedic/ca.crt",
        "evidence.itemBytes=4096",
        "evidence.redact={customer-[0-9]+}",
        "alertmanager.url=http://alertmanager.monitoring.svc:9093",
    ]
    rendered = subprocess.run(
        [str(cluster.bin["helm"]), "template", "paramedic", str(CHART), "-n", OPERATOR_NAMESPACE]
        + [arg for value in values for arg in ("--set", value)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    deployment = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    parsed = parser().parse_args(args)
    assert parsed.allowed_url_prefix == ["https://prometheus.monitoring.svc:9090", "https://hooks.slack.com/"]
    assert parsed.cluster_cidr == ["10.96.0.0/12", "10.244.0.0/16"]
    assert parsed.prometheus_ca_file == "/etc/paramedic/ca.crt"
    assert (parsed.evidence_item_bytes, parsed.evidence_total_bytes) == (4096, 524288)
    assert parsed.evidence_redact == ["customer-[0-9]+"]
    assert parsed.outbound_timeout == 10.0
    assert parsed.alertmanager_url == "http://alertmanager.monitoring.svc:9093"


def helm(cluster: DevCluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(cluster.bin["helm"]), *args], env=cluster.env(), capture_output=True, text=True, timeout=120
    )
    assert not check or result.returncode == 0, result.stdout + result.stderr
    return result


def render(cluster: DevCluster, release: str, namespace: str, *values: str) -> list[dict[str, Any]]:
    sets = [arg for value in values for arg in ("--set", value)]
    rendered = helm(cluster, "template", release, str(CHART), "-n", namespace, *sets).stdout
    return [d for d in yaml.safe_load_all(rendered) if d]


def keys(documents: list[dict[str, Any]], namespace: str) -> set[tuple[str, str, str]]:
    """What each object claims on the cluster: kind, namespace (the release's for namespaced kinds), name."""
    cluster_scoped = {
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    return {
        (
            d["kind"],
            "" if d["kind"] in cluster_scoped else d["metadata"].get("namespace", namespace),
            d["metadata"]["name"],
        )
        for d in documents
    }


EVERYTHING = (
    "serviceMonitor.enabled=true",
    "podMonitor.enabled=true",
    "prometheusRule.enabled=true",
    "grafanaDashboard.enabled=true",
)


@pytest.mark.parametrize(
    ("second", "namespace"), [("paramedic", "team-b"), ("staging", "team-b"), ("staging", "team-a")]
)
def test_a_second_release_claims_no_object_of_the_first(cluster: DevCluster, second: str, namespace: str) -> None:
    """The same release name in another namespace, another name in another or the same namespace: no two
    objects share a kind, namespace and name, and each release's bindings name its own ServiceAccount."""
    first = render(cluster, "paramedic", "team-a", *EVERYTHING)
    other = render(cluster, second, namespace, *EVERYTHING, "clusterWide.create=false")
    assert not keys(first, "team-a") & keys(other, namespace)
    for documents, ns in ((first, "team-a"), (other, namespace)):
        [account] = [d["metadata"]["name"] for d in documents if d["kind"] == "ServiceAccount"]
        deployment = next(d for d in documents if d["kind"] == "Deployment")
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account
        for binding in (d for d in documents if d["kind"] in ("ClusterRoleBinding", "RoleBinding")):
            assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": ns}]
            assert any(d["metadata"]["name"] == binding["roleRef"]["name"] for d in documents)
        selector = deployment["spec"]["selector"]["matchLabels"]
        for selecting in (d for d in documents if d["kind"] in ("Service", "PodDisruptionBudget", "ServiceMonitor")):
            chosen = selecting["spec"]["selector"]
            assert chosen.get("matchLabels", chosen) == selector  # each release selects its own pods only


def test_the_values_schema_rejects_a_wrong_value(cluster: DevCluster) -> None:
    for value, field in (
        ("replicaCount=two", "/replicaCount"),
        ("logFormat=xml", "/logFormat"),
        ("metrics.port=70000", "/metrics/port"),
        ("podMonitor.interval=soon", "/podMonitor/interval"),
        ("replicas=2", "replicas"),  # a misspelt key is refused, not ignored
    ):
        result = helm(cluster, "template", "paramedic", str(CHART), "--set", value, check=False)
        assert result.returncode != 0, value
        assert "values don't meet the specifications of the schema" in result.stderr, result.stderr
        assert field in result.stderr, result.stderr


def test_pdb_only_with_two_replicas_or_more(cluster: DevCluster) -> None:
    def pdbs(*values: str) -> list[dict[str, Any]]:
        return [d for d in render(cluster, "paramedic", "ops", *values) if d["kind"] == "PodDisruptionBudget"]

    assert pdbs("replicaCount=1") == []  # minAvailable 1 of 1 would block every node drain
    [pdb] = pdbs("replicaCount=2")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdbs("replicaCount=3", "podDisruptionBudget.enabled=false") == []


def test_scheduling_knobs_reach_the_pod(cluster: DevCluster) -> None:
    [deployment] = [
        d
        for d in render(
            cluster,
            "paramedic",
            "ops",
            "nodeSelector.pool=system",
            "tolerations[0].key=dedicated,tolerations[0].operator=Exists,tolerations[0].effect=NoSchedule",
            "priorityClassName=system-cluster-critical",
            "podAnnotations.team=sre",
            "topologySpreadConstraints[0].maxSkew=1,topologySpreadConstraints[0].topologyKey=zone,"
            "topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule",
            "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
            ".matchExpressions[0].key=arch,"
            "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
            ".matchExpressions[0].operator=Exists",
        )
        if d["kind"] == "Deployment"
    ]
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"team": "sre"}
    spec = pod["spec"]
    assert spec["nodeSelector"] == {"pool": "system"}
    assert spec["tolerations"] == [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert spec["topologySpreadConstraints"] == [
        {
            "maxSkew": 1,
            "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": deployment["spec"]["selector"]["matchLabels"]},
        }
    ]
    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]


def test_chart_and_kustomize_base_run_the_same_pod(cluster: DevCluster) -> None:
    """The two install paths: same container ports, probes, resources, security and spreading."""
    [chart] = [d for d in render(cluster, "paramedic", OPERATOR_NAMESPACE) if d["kind"] == "Deployment"]
    [base] = [d for d in yaml.safe_load_all((DEPLOY / "deployment.yaml").read_text()) if d["kind"] == "Deployment"]
    chart_pod, base_pod = chart["spec"]["template"]["spec"], base["spec"]["template"]["spec"]
    assert chart["spec"]["replicas"] == base["spec"]["replicas"]
    assert chart_pod["securityContext"] == base_pod["securityContext"]
    assert [{**c, "labelSelector": None} for c in chart_pod["topologySpreadConstraints"]] == [
        {**c, "labelSelector": None} for c in base_pod["topologySpreadConstraints"]
    ]
    (chart_container,), (base_container,) = chart_pod["containers"], base_pod["containers"]
    for field in ("ports", "livenessProbe", "readinessProbe", "resources", "securityContext", "volumeMounts", "env"):
        assert chart_container.get(field) == base_container.get(field), field
    # The same flags (the base's allow-list names public channels as an example; the chart's is empty).
    assert {a.split("=")[0] for a in chart_container["args"]} == {
        a.split("=")[0] for a in base_container["args"] if not a.startswith("--allowed-url-prefix")
    }


def test_observability_in_the_chart_is_the_shipped_one(cluster: DevCluster) -> None:
    documents = render(
        cluster,
        "paramedic",
        "monitoring-test",
        *EVERYTHING,
        "prometheusRule.runbookBaseUrl=https://docs.example/alerts",
    )
    [rule] = [d for d in documents if d["kind"] == "PrometheusRule"]
    shipped = yaml.safe_load((DEPLOY.parent / "observability" / "prometheusrule.yaml").read_text())
    assert rule["metadata"]["namespace"] == "monitoring-test"  # the release's, not a hard-coded one
    linked = yaml.safe_dump(shipped["spec"]).replace("docs/alerts.md", "https://docs.example/alerts")
    assert rule["spec"] == yaml.safe_load(linked)
    [dashboard] = [d for d in documents if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["data"]["paramedic.json"] == (
        DEPLOY.parent / "observability" / "grafana-dashboard.json"
    ).read_text().rstrip("\n")
    [monitor] = [d for d in documents if d["kind"] == "PodMonitor"]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["monitoring-test"]}
    assert all(d["kind"] not in ("ServiceMonitor", "PodMonitor", "PrometheusRule") for d in render(cluster, "p", "ns"))


def test_helm_installs_two_releases_upgrades_tests_and_uninstalls(cluster: DevCluster, crds: None) -> None:
    """Installed for real on the control plane: the same release name in two namespaces side by side (the
    cluster's admission policy and tenant roles exist once, from the base), upgraded, then uninstalled."""
    releases = (("paramedic", "chart-a"), ("paramedic", "chart-b"))
    try:
        for name, namespace in releases:
            helm(
                cluster,
                "install",
                name,
                str(CHART),
                "-n",
                namespace,
                "--create-namespace",
                "--skip-crds",
                "--set",
                "clusterWide.create=false",
                "--wait=false",
            )
        for _, namespace in releases:
            binding = kubectl(cluster, "get", "clusterrolebinding", f"paramedic-{namespace}", "-o", "json")
            assert binding.returncode == 0, binding.stderr
            assert yaml.safe_load(binding.stdout)["subjects"] == [
                {"kind": "ServiceAccount", "name": "paramedic", "namespace": namespace}
            ]
            can = kubectl(
                cluster,
                "auth",
                "can-i",
                "patch",
                "deployments.apps",
                "-n",
                "default",
                "--as",
                f"system:serviceaccount:{namespace}:paramedic",
            )
            assert can.stdout.strip() == "yes", can.stderr
        upgraded = helm(
            cluster,
            "upgrade",
            "paramedic",
            str(CHART),
            "-n",
            "chart-a",
            "--skip-crds",
            "--reuse-values",
            "--set",
            "replicaCount=1",
        )
        assert "Upgrading: Helm does not upgrade CRDs" in upgraded.stdout  # NOTES.txt says what to do instead
        pdb = kubectl(cluster, "get", "pdb", "-n", "chart-a", "paramedic")
        assert pdb.returncode != 0
        assert "NotFound" in pdb.stderr
        bad = helm(
            cluster,
            "upgrade",
            "paramedic",
            str(CHART),
            "-n",
            "chart-a",
            "--reuse-values",
            "--set",
            "logFormat=xml",
            check=False,
        )
        assert bad.returncode != 0
        assert "/logFormat" in bad.stderr
        # The documented CRD upgrade path (docs/install.md, NOTES.txt) is accepted over the installed CRDs.
        crds_upgrade = kubectl(
            cluster, "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", str(CHART / "crds")
        )
        assert crds_upgrade.returncode == 0, crds_upgrade.stderr
        assert crds_upgrade.stdout.count("serverside-applied (server dry run)") == 5, crds_upgrade.stdout
    finally:
        for name, namespace in releases:
            helm(cluster, "uninstall", name, "-n", namespace, check=False)
    for _, namespace in releases:
        assert kubectl(cluster, "get", "clusterrole", f"paramedic-{namespace}").returncode != 0


def test_helm_test_hook_passes_against_a_running_operator(
    paramedic: Kit, cluster: DevCluster, metrics_port: int
) -> None:
    """`helm test`'s pod runs the operator image's Python on a script; run that script here, with the
    Service's address swapped for the test operator's metrics port: it passes on the real /metrics page."""
    import sys

    documents = render(cluster, "paramedic", OPERATOR_NAMESPACE)
    [pod] = [d for d in documents if d["kind"] == "Pod"]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    labels = pod["metadata"]["labels"]
    for selecting in (d for d in documents if d["kind"] in ("Service", "PodDisruptionBudget", "NetworkPolicy")):
        selector = selecting["spec"].get("podSelector", selecting["spec"].get("selector"))
        wanted = selector.get("matchLabels", selector)
        assert not wanted.items() <= labels.items(), selecting["kind"]  # nor would its egress reach the metrics
    command = pod["spec"]["containers"][0]["command"]
    assert command[:2] == ["python", "-c"]
    service = f"http://paramedic.{OPERATOR_NAMESPACE}.svc:8080/metrics"
    assert service in command[2]
    script = command[2].replace(service, f"http://127.0.0.1:{metrics_port}/metrics")
    passed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert passed.returncode == 0, passed.stderr
    failed = subprocess.run(
        [sys.executable, "-c", script.replace("paramedic_build_info{", "paramedic_no_such_metric{")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 1
    assert "serves no" in failed.stderr
