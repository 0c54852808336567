"""Whether the operator honours an approval or a resolution: pure rules, no I/O.

Who someone is can only be known by the API server. The ValidatingAdmissionPolicy
``paramedic-remediations`` (deploy/base/admission.yaml) compares spec.approvedBy
with the caller's username and checks that the caller, or one of the caller's
groups, is among the approvers the operator recorded in status.approval, and
that the caller is not the requester.

The operator checks again what it can see (defence in depth), and honours
nothing when that policy is not installed: without it spec.approvedBy is
whatever anyone typed.

- approvedBy must be set and must not be the recorded requester;
- it must be one of the recorded approver users, unless the runbook names
  approver groups (membership is visible only to the API server, so the
  policy's check is relied on) or names no approvers at all (then the policy
  admits only cluster admins, whom it does not check).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from paramedic.api.common import Approvers
from paramedic.api.remediation import ApprovalRecord

#: The name of the ValidatingAdmissionPolicy and of its binding.
ADMISSION_POLICY = "paramedic-remediations"

Act = Literal["approve", "resolve"]

_FIELD = {"approve": "spec.approvedBy", "resolve": "spec.resolvedBy"}
_NOUN = {"approve": "approval", "resolve": "resolution"}


@dataclasses.dataclass(frozen=True)
class Verdict:
    honoured: bool
    #: One CamelCase word, for conditions and Events.
    reason: str
    message: str


def judge(act: Act, by: str | None, record: ApprovalRecord | None, policy_installed: bool) -> Verdict:
    """Whether ``by``'s approval (or resolution) of a Remediation with this ``record`` counts."""
    field, noun = _FIELD[act], _NOUN[act]
    if not policy_installed:
        return Verdict(
            False,
            "AdmissionPolicyMissing",
            f"{noun} not honoured: the ValidatingAdmissionPolicyBinding {ADMISSION_POLICY} is not installed, so "
            f"nothing proves that {field} is who made the change (install deploy/base/admission.yaml)",
        )
    if not by:
        return Verdict(False, "ApproverUnknown", f"{noun} not honoured: {field} is empty")
    requester = record.requested_by if record is not None else ""
    if requester and by == requester:
        return Verdict(
            False, "SelfApproval", f"{noun} not honoured: {by} requested this Remediation and cannot {act} it"
        )
    approvers = record.approvers if record is not None else None
    if approvers is not None and not approvers.groups and by not in approvers.users:
        return Verdict(
            False,
            "NotAnApprover",
            f"{noun} not honoured: {field} {by} is not among the approvers in status.approval ({describe(approvers)})",
        )
    return Verdict(True, "Approved" if act == "approve" else "Resolved", f"{act}d by {by}{_requested(requester)}")


def describe(approvers: Approvers | None) -> str:
    """The approvers as people read them in messages and Events."""
    if approvers is None:
        return "none declared: only cluster admins"
    parts = []
    if approvers.users:
        parts.append("users " + ", ".join(approvers.users))
    if approvers.groups:
        parts.append("groups " + ", ".join(approvers.groups))
    return "; ".join(parts)


def _requested(requester: str) -> str:
    return f" (requested by {requester})" if requester else ""
