"""The driver's side of a gathering (I/O): which object to look at, then the gatherer, then the decision.

The target is the object the latest step acted on when one did (a restarted
Deployment, not the Pod that has gone since), else the Remediation's own
target; a namespaced Runbook's target is in its own namespace (accepted so
by ``policy.access``), which is the only namespace its collectors read.
"""

from __future__ import annotations

from typing import Any

from paramedic.api.common import utcnow
from paramedic.api.remediation import RemediationSpec, RemediationStatus
from paramedic.api.runbook import RunbookSpec
from paramedic.evidence.gather import Gatherer, Request
from paramedic.policy import access

from . import gathering
from .transitions import Transition


def run(
    gatherer: Gatherer,
    rem: dict[str, Any],
    spec: RemediationSpec,
    status: RemediationStatus,
    runbook: RunbookSpec,
    move: gathering.Gather,
) -> Transition:
    namespace = rem["metadata"]["namespace"]
    resolved = status.resolved_target
    if resolved is not None:
        kind, name, where = resolved.kind, resolved.name, resolved.namespace
    else:
        ref = access.target_ref(spec, namespace)
        kind, name, where = ref.kind, ref.name, ref.namespace
    request = Request(
        rem=rem,
        collectors=[c for c in runbook.evidence if c.name in move.names],
        after=move.after,
        kind=kind,
        name=name,
        namespace=where,
        cluster=spec.runbook_ref.kind == "ClusterRunbook",
        inline_used=gathering.inline_bytes(status),
    )
    records = gatherer.gather(request, utcnow)
    return gathering.recorded(rem, status, move, records, utcnow())
