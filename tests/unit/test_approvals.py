"""The operator's own check of approvals and resolutions (policy/approvals.py), and the offline lint of
the fields that name people."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from paramedic.api.common import Approvers
from paramedic.api.remediation import ApprovalRecord
from paramedic.api.runbook import RunbookSpec
from paramedic.lint import lint_file
from paramedic.policy.approvals import describe, judge

ALICE, BOB = "alice@team", "bob@team"


def record(users: list[str] | None = None, groups: list[str] | None = None, requester: str = ALICE) -> ApprovalRecord:
    approvers = Approvers(users=users or [], groups=groups or []) if users or groups else None
    return ApprovalRecord(requested_by=requester, approvers=approvers)


def test_an_approver_user_is_honoured_and_named() -> None:
    verdict = judge("approve", BOB, record(users=[BOB]), policy_installed=True)
    assert verdict.honoured
    assert verdict.message == f"approved by {BOB} (requested by {ALICE})"


def test_without_the_admission_policy_nothing_is_honoured() -> None:
    verdict = judge("approve", BOB, record(users=[BOB]), policy_installed=False)
    assert not verdict.honoured
    assert verdict.reason == "AdmissionPolicyMissing"
    assert "paramedic-remediations" in verdict.message


def test_the_requester_cannot_approve_even_when_listed() -> None:
    verdict = judge("approve", ALICE, record(users=[ALICE, BOB]), policy_installed=True)
    assert (verdict.honoured, verdict.reason) == (False, "SelfApproval")
    assert f"{ALICE} requested this Remediation and cannot approve it" in verdict.message


def test_someone_not_listed_is_refused_naming_the_approvers() -> None:
    verdict = judge("resolve", "mallory", record(users=[BOB]), policy_installed=True)
    assert (verdict.honoured, verdict.reason) == (False, "NotAnApprover")
    assert "spec.resolvedBy mallory is not among the approvers" in verdict.message
    assert f"users {BOB}" in verdict.message


def test_group_membership_is_left_to_the_admission_policy() -> None:
    """The operator cannot see a person's groups; the API server checked request.userInfo.groups."""
    assert judge("approve", BOB, record(groups=["sre"]), policy_installed=True).honoured


def test_without_approvers_only_cluster_admins_got_through_the_policy() -> None:
    assert judge("resolve", "paramedic-admin", record(), policy_installed=True).honoured
    assert describe(None) == "none declared: only cluster admins"


@pytest.mark.parametrize("by", [None, ""])
def test_an_anonymous_approval_is_refused(by: str | None) -> None:
    verdict = judge("approve", by, record(users=[BOB]), policy_installed=True)
    assert (verdict.honoured, verdict.reason) == (False, "ApproverUnknown")


names = st.sampled_from([ALICE, BOB, "carol", "mallory", ""])


@given(
    by=st.one_of(st.none(), names),
    requester=names,
    users=st.lists(names.filter(bool), max_size=3),
    groups=st.lists(st.sampled_from(["sre", "dba"]), max_size=2),
    installed=st.booleans(),
    act=st.sampled_from(["approve", "resolve"]),
)
def test_an_honoured_approval_is_never_the_requester_and_always_accounted_for(
    by: str | None, requester: str, users: list[str], groups: list[str], installed: bool, act: str
) -> None:
    rec = record(users, groups, requester)
    verdict = judge(act, by, rec, installed)  # type: ignore[arg-type]
    if verdict.honoured:
        assert installed
        assert by
        assert not requester or by != requester
        assert rec.approvers is None or rec.approvers.groups or by in rec.approvers.users
        assert by in verdict.message


def test_approvers_name_someone() -> None:
    with pytest.raises(ValidationError, match="at least one user or group"):
        Approvers()


def test_lint_rejects_what_the_api_server_rejects(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(
        "apiVersion: paramedic.dev/v1alpha1\nkind: Runbook\nmetadata: {name: gated}\n"
        "spec: {requiresApproval: true, steps: [{rolloutRestart: {}}]}\n"
        "---\napiVersion: paramedic.dev/v1alpha1\nkind: Remediation\nmetadata: {name: r}\n"
        "spec: {runbookRef: {name: gated}, target: {kind: Pod, name: p}, approved: true, resolved: true}\n"
        "---\napiVersion: paramedic.dev/v1alpha1\nkind: Runbook\nmetadata: {name: ok}\n"
        "spec: {requiresApproval: true, approvers: {groups: [sre]}, steps: [{rolloutRestart: {}}]}\n"
    )
    assert sorted((p.document, p.field) for p in lint_file(path)) == [
        (0, "spec.approvers"),
        (1, "spec.approvedBy"),
        (1, "spec.resolvedBy"),
    ]


def test_a_recorded_runbook_without_approvers_still_parses() -> None:
    """Snapshots taken before approvers existed keep running: the requirement is CEL and lint, not the model."""
    assert RunbookSpec.model_validate({"requiresApproval": True, "steps": [{"rolloutRestart": {}}]}).approvers is None
