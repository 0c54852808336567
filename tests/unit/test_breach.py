"""The pure parts of the breach-response actions and applyManifest: who consumes a Secret or ConfigMap,
the NetworkPolicy an isolate step declares, and a manifest read as bounded data and held to its scope."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paramedic.actions import consumers, manifests
from paramedic.actions.isolate import policy_spec
from paramedic.api.breach_params import FORBIDDEN_MANIFEST_KINDS, IsolateParams
from paramedic.lint import lint_document

SELECTOR = {"matchLabels": {"app": "collab-api"}}


def _pod(**spec: Any) -> dict[str, Any]:
    return {"containers": [{"name": "c", "image": "i"}], **spec}


def _container(**fields: Any) -> dict[str, Any]:
    return {"name": "c", "image": "i", **fields}


@pytest.mark.parametrize(
    ("spec", "source"),
    [
        (_pod(volumes=[{"name": "v", "secret": {"secretName": "db"}}]), "secret"),
        (_pod(volumes=[{"name": "v", "configMap": {"name": "db"}}]), "configMap"),
        (_pod(volumes=[{"name": "v", "projected": {"sources": [{"secret": {"name": "db"}}]}}]), "secret"),
        (_pod(volumes=[{"name": "v", "projected": {"sources": [{"configMap": {"name": "db"}}]}}]), "configMap"),
        ({"containers": [_container(env=[{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db"}}}])]}, "secret"),
        (
            {"containers": [_container(env=[{"name": "P", "valueFrom": {"configMapKeyRef": {"name": "db"}}}])]},
            "configMap",
        ),
        ({"containers": [_container(envFrom=[{"secretRef": {"name": "db"}}])]}, "secret"),
        ({"initContainers": [_container(envFrom=[{"configMapRef": {"name": "db"}}])], "containers": []}, "configMap"),
        (_pod(imagePullSecrets=[{"name": "db"}]), "secret"),
    ],
)
def test_every_kind_of_use_makes_a_consumer_of_that_source_only(spec: dict[str, Any], source: str) -> None:
    other = "configMap" if source == "secret" else "secret"
    assert consumers.uses(spec, source, "db")  # type: ignore[arg-type]
    assert not consumers.uses(spec, source, "other")  # type: ignore[arg-type]
    # A ConfigMap and a Secret of the same name are different things.
    assert not consumers.uses(spec, other, "db")  # type: ignore[arg-type]


def test_a_pod_that_uses_nothing_consumes_nothing() -> None:
    assert not consumers.uses(_pod(), "secret", "db")
    assert not consumers.uses({}, "configMap", "db")


def test_deny_all_cuts_both_directions_by_default_and_only_the_declared_ones() -> None:
    spec = policy_spec(IsolateParams(), SELECTOR)
    assert spec == {"podSelector": SELECTOR, "policyTypes": ["Egress", "Ingress"], "egress": [], "ingress": []}
    ingress_only = policy_spec(IsolateParams.model_validate({"directions": ["Ingress"]}), SELECTOR)
    assert ingress_only == {"podSelector": SELECTOR, "policyTypes": ["Ingress"], "ingress": []}


def test_an_allow_list_keeps_only_its_peers_per_direction() -> None:
    params = IsolateParams.model_validate(
        {
            "mode": "AllowList",
            "allow": [
                {"direction": "Egress", "ports": [53], "protocol": "UDP"},
                {"direction": "Ingress", "podSelector": {"matchLabels": {"app": "forensics"}}},
                {"direction": "Egress", "cidr": "10.1.0.0/16", "ports": [5432]},
            ],
        }
    )
    spec = policy_spec(params, SELECTOR)
    assert spec["ingress"] == [{"from": [{"podSelector": {"matchLabels": {"app": "forensics"}}}]}]
    assert spec["egress"] == [
        {"ports": [{"port": 53, "protocol": "UDP"}]},
        {"to": [{"ipBlock": {"cidr": "10.1.0.0/16"}}], "ports": [{"port": 5432, "protocol": "TCP"}]},
    ]


def test_blocked_sources_allow_every_other_source_per_address_family() -> None:
    params = IsolateParams.model_validate(
        {"mode": "BlockSources", "blockCidrs": ["203.0.113.7/32", "2001:db8::/32", "198.51.100.0/24"]}
    )
    spec = policy_spec(params, SELECTOR)
    assert spec["policyTypes"] == ["Ingress"]
    assert spec["ingress"] == [
        {
            "from": [
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["198.51.100.0/24", "203.0.113.7/32"]}},
                {"ipBlock": {"cidr": "::/0", "except": ["2001:db8::/32"]}},
            ]
        }
    ]


INGRESS = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec: {rules: [{host: a.example.com}]}
"""


def test_a_manifest_is_bounded_data() -> None:
    assert [d["kind"] for d in manifests.parse(INGRESS + "---\n" + INGRESS)] == ["Ingress", "Ingress"]
    with pytest.raises(manifests.Invalid, match="larger than"):
        manifests.parse("a: " + "x" * manifests.MAX_BYTES)
    with pytest.raises(manifests.Invalid, match="aliases"):
        manifests.parse("a: &x [1, 2]\nb: [*x, *x]\n")
    with pytest.raises(manifests.Invalid, match="at most 20"):
        manifests.parse("---\n".join(["a: 1\n"] * 21))
    with pytest.raises(manifests.Invalid, match="not valid YAML"):
        manifests.parse("a: [")
    with pytest.raises(manifests.Invalid, match="no document"):
        manifests.parse("---\n")
    with pytest.raises(manifests.Invalid, match="not valid YAML"):
        manifests.parse("!!python/object/apply:os.system ['true']")


def test_a_manifest_is_held_to_its_kinds_and_the_target_namespace() -> None:
    (doc,) = manifests.check(manifests.parse(INGRESS), ["Ingress"], FORBIDDEN_MANIFEST_KINDS, "paintbox")
    assert doc.body["metadata"] == {"name": "web", "namespace": "paintbox"}
    elsewhere = INGRESS.replace("{name: web}", "{name: web, namespace: kube-system}")
    with pytest.raises(manifests.Invalid, match="for namespace kube-system; this step applies only in paintbox"):
        manifests.check(manifests.parse(elsewhere), ["Ingress"], FORBIDDEN_MANIFEST_KINDS, "paintbox")
    role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n"
    with pytest.raises(manifests.Invalid, match="is a ClusterRole; this step applies only Ingress"):
        manifests.check(manifests.parse(role), ["Ingress"], FORBIDDEN_MANIFEST_KINDS, "paintbox")
    # Forbidden even when declared (a hand-written schema bypass cannot name them either).
    with pytest.raises(manifests.Invalid, match="is a ClusterRole"):
        manifests.check(manifests.parse(role), ["ClusterRole"], FORBIDDEN_MANIFEST_KINDS, "paintbox")
    with pytest.raises(manifests.Invalid, match=r"needs metadata\.name"):
        manifests.check([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}], ["ConfigMap"], (), "p")


def test_the_diff_names_the_changed_fields() -> None:
    current = {
        "metadata": {"name": "web", "resourceVersion": "7", "managedFields": [{"manager": "kubectl"}]},
        "spec": {"rules": [{"host": "evil.example.com"}]},
        "status": {"loadBalancer": {}},
    }
    applied = {
        "metadata": {"name": "web", "resourceVersion": "8", "managedFields": [{"manager": "paramedic"}]},
        "spec": {"rules": [{"host": "a.example.com"}]},
    }
    assert manifests.changed_fields(current, applied) == ["spec.rules[0].host"]
    assert manifests.changed_fields(None, applied) == ["*"]


@given(st.recursive(st.none() | st.integers() | st.text(max_size=5), lambda c: st.dictionaries(st.text(max_size=5), c)))
def test_applying_what_is_there_changes_nothing(value: Any) -> None:
    obj = {"metadata": {"name": "x"}, "spec": value}
    assert manifests.changed_fields(obj, obj) == []


def test_lint_holds_a_runbook_to_the_tenant_kinds_offline() -> None:
    step = {"applyManifest": {"configMap": "known-good", "key": "ingress.yaml", "kinds": ["Deployment"]}}
    doc = {"apiVersion": "paramedic.dev/v1alpha1", "kind": "Runbook", "metadata": {"name": "x"}}
    problems = lint_document("f.yaml", 0, {**doc, "spec": {"steps": [step]}})
    assert any(p.field.startswith("spec.steps[0].applyManifest.kinds") for p in problems), problems
    # A ClusterRunbook declares its kinds, but never RBAC.
    cluster = {**doc, "kind": "ClusterRunbook"}
    assert lint_document("f.yaml", 0, {**cluster, "spec": {"steps": [step]}}) == []
    step["applyManifest"]["kinds"] = ["RoleBinding"]
    problems = lint_document("f.yaml", 0, {**cluster, "spec": {"steps": [step]}})
    assert any("never names RBAC" in p.message for p in problems), problems


def test_declared_selectors_reach_the_policy_verbatim() -> None:
    expression = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["edge", "api"]}]}
    params = IsolateParams.model_validate(
        {"mode": "AllowList", "podSelector": expression, "allow": [{"direction": "Ingress", "podSelector": expression}]}
    )
    assert params.pod_selector is not None
    spec = policy_spec(params, params.pod_selector.dump())
    assert spec["podSelector"] == expression
    assert spec["ingress"] == [{"from": [{"podSelector": expression}]}]
