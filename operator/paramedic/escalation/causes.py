"""Which outcomes are a reason to page a human, and under which name. Pure logic."""

from __future__ import annotations

from paramedic.api.runbook import RunbookSpec

#: Refusals that come from bad input: a human fixes the runbook, no page.
CONFIGURATION = frozenset(
    {
        "RunbookNotFound",
        "InvalidRunbook",
        "NamespaceNotAllowed",
        "ClusterRunbookRequired",
        "TargetNotAccepted",
        "TargetNotFound",
        "Invalid",
        "RateLimitPolicyNotFound",
        "InvalidRateLimitPolicy",
    }
)

_REFUSALS = {
    "StormBreaker": "StormBreaker",
    "FreezeWindow": "Frozen",
    "RateLimitWindow": "RateLimited",
    "Cooldown": "RateLimited",
    "MaxInFlight": "RateLimited",
}


def cause(phase: str, reason: str, runbook: RunbookSpec | None) -> str | None:
    """The EscalationPolicy trigger for a Remediation that ended in ``phase`` for ``reason``, if any."""
    if phase in ("Skipped", "RateLimited"):
        return _REFUSALS.get(reason)
    if phase != "Failed" or reason in CONFIGURATION:
        return None
    if runbook is not None and runbook.on_failure == "Fail":
        return None
    return "VerificationFailed" if reason == "VerificationFailed" else "StepsExhausted"
