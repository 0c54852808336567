"""runJob: the subset of JobSpec a namespaced Runbook may use, and the run-time guard."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from paramedic.actions import job_guard
from paramedic.actions.base import ActionFailed, Context, Target
from paramedic.actions.run_job import ACTION
from paramedic.api import crdgen
from paramedic.api.common import API_VERSION
from paramedic.api.params import RunJobParams as Params
from paramedic.api.params import TenantRunJobParams as TenantParams
from paramedic.api.resources import RUNBOOK
from paramedic.api.runbook import ClusterRunbookSpec, RunbookSpec
from paramedic.cli import main
from paramedic.lint import field_path
from tests.tenant_jobs import FORBIDDEN, allowed_step, job_path, lint_path, pod, run_job

CASES = pytest.mark.parametrize(("what", "step", "path"), FORBIDDEN, ids=[c[0] for c in FORBIDDEN])


@CASES
def test_runbook_model_rejects_each_forbidden_field(what: str, step: dict[str, Any], path: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        RunbookSpec.model_validate({"steps": [step]})
    where = {field_path(e["loc"]) for e in caught.value.errors()}
    assert lint_path(path) in where


@CASES
def test_cluster_runbook_keeps_the_full_job_spec(what: str, step: dict[str, Any], path: tuple[Any, ...]) -> None:
    spec = ClusterRunbookSpec.model_validate({"steps": [step]})
    assert isinstance(spec.steps[0].params, Params)
    assert spec.dump()["steps"][0]["runJob"] == {**step["runJob"], "ttlSecondsAfterFinished": 86400}


@CASES
def test_lint_rejects_each_forbidden_field_naming_it(
    what: str, step: dict[str, Any], path: tuple[Any, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = {"apiVersion": API_VERSION, "kind": "Runbook", "metadata": {"name": "unsafe"}, "spec": {"steps": [step]}}
    file = tmp_path / "runbook.yaml"
    file.write_text(yaml.safe_dump(doc))
    assert main(["lint", str(file)]) == 1
    assert f"(Runbook/unsafe): {lint_path(path)}:" in capsys.readouterr().err


def test_the_allowed_subset_round_trips() -> None:
    """Every allowed field survives validation and the snapshot in the Remediation's status."""
    step = allowed_step()
    spec = RunbookSpec.model_validate({"steps": [step]})
    params = spec.steps[0].params
    assert isinstance(params, TenantParams)
    assert params.job_spec() == step["runJob"]["template"]["spec"]
    again = RunbookSpec.model_validate(spec.dump())
    assert again == spec


@pytest.mark.parametrize("quantity", ["1.5", "-1", "lots", "1Gb"])
def test_quantities_are_checked(quantity: str) -> None:
    step = run_job(pod())
    step["runJob"]["template"]["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": quantity}}
    if quantity == "1.5":
        RunbookSpec.model_validate({"steps": [step]})
        return
    with pytest.raises(ValidationError, match=r"limits\.cpu"):
        RunbookSpec.model_validate({"steps": [step]})


def test_ephemeral_storage_keeps_its_kubernetes_name() -> None:
    """(Not in the end-to-end Job: the simulated nodes have no ephemeral storage to schedule on.)"""
    step = run_job(pod())
    resources = {"limits": {"ephemeral-storage": "1Gi"}}
    step["runJob"]["template"]["spec"]["template"]["spec"]["containers"][0]["resources"] = resources
    params = RunbookSpec.model_validate({"steps": [step]}).steps[0].params
    assert isinstance(params, TenantParams)
    assert params.job_spec()["template"]["spec"]["containers"][0]["resources"] == resources


def test_a_volume_has_exactly_one_source() -> None:
    step = run_job(pod(volumes=[{"name": "v", "emptyDir": {}, "secret": {"secretName": "s"}}]))
    with pytest.raises(ValidationError, match="a volume sets exactly one of"):
        RunbookSpec.model_validate({"steps": [step]})


# -- bounds --------------------------------------------------------------------------------

#: The most one runJob of a Runbook may weigh, in bytes of JSON, whatever it holds: the Remediation's
#: status copies it, and etcd stores objects up to 1.5 MB.
STEP_BUDGET = 96_000


def worst_case(node: dict[str, Any], path: str = "") -> int:
    """An upper bound of the JSON size of any value the schema admits; fails on anything unbounded."""
    quote = 2  # the quotes; escapes are ignored, the bound is for comparison
    if "enum" in node:
        return max(len(str(v)) + quote for v in node["enum"])
    kind = node.get("type")
    if node.get("x-kubernetes-int-or-string") or kind == "string":
        assert "maxLength" in node, f"{path}: unbounded string"
        return int(node["maxLength"]) + quote
    if kind in ("integer", "number"):
        return 20
    if kind == "boolean":
        return 5
    if kind == "array":
        assert "maxItems" in node, f"{path}: unbounded list"
        return 2 + int(node["maxItems"]) * (worst_case(node["items"], path + "[]") + 1)
    assert kind == "object", f"{path}: {node}"
    if "additionalProperties" in node:
        assert "maxProperties" in node, f"{path}: unbounded map"
        keys = [r["rule"] for r in node.get("x-kubernetes-validations", []) if r["rule"].startswith("self.all(k")]
        assert keys, f"{path}: unbounded keys"
        key = int(keys[0].split("<=")[1].strip(" )"))
        return 2 + int(node["maxProperties"]) * (key + 4 + worst_case(node["additionalProperties"], path + "{}"))
    assert not node.get("x-kubernetes-preserve-unknown-fields"), f"{path}: free-form"
    sizes = {k: len(k) + 4 + worst_case(v, f"{path}.{k}") for k, v in (node.get("properties") or {}).items()}
    for rule in node.get("x-kubernetes-validations", []):
        if rule["rule"].endswith("== 1"):  # exactly one of these fields: count the largest
            alternatives = re.findall(r"has\(self\.(\w+)\)", rule["rule"])
            largest = max(sizes.pop(k) for k in alternatives)
            sizes["one of " + ", ".join(alternatives)] = largest
    return 2 + sum(sizes.values())


def test_a_runbook_run_job_is_bounded() -> None:
    schema = crdgen.crd(RUNBOOK)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    run_job_schema = schema["properties"]["spec"]["properties"]["steps"]["items"]["properties"]["runJob"]
    size = worst_case(run_job_schema, "runJob")
    print(f"worst case of one Runbook runJob: {size} bytes")
    assert size < STEP_BUDGET


def test_unbounded_schemas_are_caught() -> None:
    with pytest.raises(AssertionError, match="unbounded list"):
        worst_case({"type": "array", "items": {"type": "string", "maxLength": 1}})
    with pytest.raises(AssertionError, match="unbounded string"):
        worst_case({"type": "object", "properties": {"a": {"type": "string"}}})


# -- the run-time guard --------------------------------------------------------------------


def context(kind: str = "Runbook") -> Context:
    target = Target("apps/v1", "Deployment", "db", "team-a", {})
    return Context(None, target, "rem-1", "team-a", "uid-1", 0, runbook_kind=kind)  # type: ignore[arg-type]


def full_params(step: dict[str, Any]) -> Params:
    return Params.model_validate(step["runJob"])


@CASES
def test_guard_refuses_what_the_schema_let_through(what: str, step: dict[str, Any], path: tuple[Any, ...]) -> None:
    """A namespaced Runbook's Job is checked at run time even if its params came through the full model."""
    with pytest.raises(ActionFailed) as caught:
        ACTION.plan(context(), full_params(step))
    assert caught.value.reason == "UnsafeJob"
    assert f"{job_path(path)}: " in str(caught.value)


def dig(obj: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        obj = obj[part]
    return obj


@CASES
def test_cluster_runbook_jobs_are_not_confined(what: str, step: dict[str, Any], path: tuple[Any, ...]) -> None:
    """An administrator's ClusterRunbook gets the JobSpec it wrote."""
    manifest = ACTION._manifest(context("ClusterRunbook"), full_params(step), "job")
    assert dig(manifest["spec"], path[2:]) == dig(step["runJob"]["template"]["spec"], path[2:])
    if what != "automountServiceAccountToken":
        assert "automountServiceAccountToken" not in manifest["spec"]["template"]["spec"]


def test_a_runbook_job_runs_as_default_without_a_token() -> None:
    params = RunbookSpec.model_validate({"steps": [allowed_step()]}).steps[0].params
    assert isinstance(params, TenantParams)
    manifest = ACTION._manifest(context(), params, "job")
    pod_spec = manifest["spec"]["template"]["spec"]
    assert pod_spec["automountServiceAccountToken"] is False
    assert pod_spec["serviceAccountName"] == "default"
    assert manifest["metadata"]["labels"]["paramedic.dev/remediation"] == "rem-1"
    assert {e["name"] for e in pod_spec["containers"][0]["env"]} >= {"PARAMEDIC_TARGET_NAME", "MODE"}


def test_guard_looks_at_every_container_and_volume_source() -> None:
    spec = {
        "template": {
            "spec": {
                "initContainers": [{"name": "i", "securityContext": {"privileged": True}}],
                "ephemeralContainers": [{"name": "e", "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}],
                "containers": [{"name": "c", "securityContext": {"windowsOptions": {"hostProcess": True}}}],
                "securityContext": {"windowsOptions": {"hostProcess": True}},
                "volumes": [{"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}],
            }
        }
    }
    found = job_guard.problems(spec)
    assert any("initContainers[0].securityContext.privileged" in p for p in found)
    assert any("ephemeralContainers[0].securityContext.capabilities.add" in p for p in found)
    assert any("volumes[0].projected.sources[0].serviceAccountToken" in p for p in found)
    assert any("containers[0].securityContext.windowsOptions.hostProcess" in p for p in found)
    assert any("spec.template.spec.securityContext.windowsOptions.hostProcess" in p for p in found)


UNSAFE_POD_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "serviceAccountName": st.sampled_from(["default", "", "admin", "paramedic"]),
    "serviceAccount": st.sampled_from(["default", "root"]),
    "automountServiceAccountToken": st.booleans(),
    "hostPID": st.booleans(),
    "hostNetwork": st.booleans(),
    "hostIPC": st.booleans(),
    "nodeName": st.sampled_from(["", "node-1"]),
    "volumes": st.lists(
        st.fixed_dictionaries(
            {"name": st.just("v")},
            optional={
                "hostPath": st.just({"path": "/"}),
                "emptyDir": st.just({}),
                "secret": st.just({"secretName": "s"}),
                "nfs": st.just({"server": "x", "path": "/"}),
            },
        ),
        max_size=3,
    ),
    "containers": st.lists(
        st.fixed_dictionaries(
            {"name": st.just("c")},
            optional={
                "securityContext": st.fixed_dictionaries(
                    {},
                    optional={
                        "privileged": st.booleans(),
                        "allowPrivilegeEscalation": st.booleans(),
                        "capabilities": st.fixed_dictionaries(
                            {}, optional={"add": st.lists(st.just("SYS_ADMIN"), max_size=1)}
                        ),
                    },
                )
            },
        ),
        max_size=3,
    ),
}


@given(st.fixed_dictionaries({}, optional=UNSAFE_POD_FIELDS))
def test_a_job_the_guard_passes_holds_no_borrowed_power(pod_spec: dict[str, Any]) -> None:
    job = {"template": {"spec": pod_spec}}
    before = copy.deepcopy(job)
    if job_guard.problems(job):
        return
    out = job_guard.confined(job)["template"]["spec"]
    assert job == before, "confined() does not change its argument"
    assert out["automountServiceAccountToken"] is False
    assert out["serviceAccountName"] == "default"
    assert "serviceAccount" not in out
    assert not any(out.get(f) for f in ("hostPID", "hostNetwork", "hostIPC", "nodeName"))
    assert all(set(v) <= {"name", "emptyDir", "secret"} for v in out.get("volumes", []))
    for container in out.get("containers", []):
        context = container.get("securityContext", {})
        assert not context.get("privileged")
        assert not context.get("allowPrivilegeEscalation")
        assert not context.get("capabilities", {}).get("add")
    assert job_guard.confined({"template": {"spec": out}}) == {"template": {"spec": out}}


def test_the_guard_passes_what_the_schema_allows() -> None:
    params = RunbookSpec.model_validate({"steps": [allowed_step()]}).steps[0].params
    assert isinstance(params, TenantParams)
    assert job_guard.problems(params.job_spec()) == []
    assert job_guard.problems({"template": {"spec": pod(serviceAccountName="default")}}) == []


def test_the_engine_reads_a_cluster_runbook_snapshot_with_its_own_model() -> None:
    """The escalation policy of a ClusterRunbook whose Job names a ServiceAccount is still found."""
    from paramedic.api.remediation import RemediationStatus
    from paramedic.engine.transitions import recorded_runbook

    spec = {"escalationPolicyRef": {"name": "oncall"}, "steps": [run_job(pod(serviceAccountName="runner"))]}
    status = RemediationStatus(runbook_spec=ClusterRunbookSpec.model_validate(spec).dump())
    recorded = recorded_runbook({"runbookRef": {"kind": "ClusterRunbook", "name": "jobs"}}, status)
    assert recorded is not None
    assert recorded.escalation_policy_ref is not None
    assert recorded.escalation_policy_ref.name == "oncall"
    assert recorded_runbook({"runbookRef": {"kind": "Runbook", "name": "jobs"}}, status) is None
