"""Writing a Remediation's status: the engine's only state.

Every write carries the resourceVersion the engine read, so a write based on
a stale read (another replica, or an update racing us) fails with a conflict
instead of overwriting a newer record; the engine then re-reads and decides
again. That is what makes "record intent before acting" safe.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from paramedic.api.common import Condition, utcnow
from paramedic.api.remediation import RemediationStatus
from paramedic.kube import ApiException, Clients
from paramedic.kube.conflicts import Conflict as Conflict
from paramedic.kube.conflicts import retry_on_conflict
from paramedic.kube.kinds import KINDS

REMEDIATION = KINDS["Remediation"]


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int | None,
    *,
    at: datetime | None = None,
) -> list[Condition]:
    """Replace one condition; keep its lastTransitionTime when its status did not change.
    ``at``: the time of the change (the engine's decisions pass their clock); default now."""
    flag = "True" if status else "False"
    old = next((c for c in conditions if c.type == type_), None)
    since = old.last_transition_time if old is not None and old.status == flag else (at or utcnow())
    new = Condition(
        type=type_,
        status=flag,
        reason=reason,
        message=message[:1024],
        last_transition_time=since,
        observed_generation=generation,
    )
    return [c for c in conditions if c.type != type_] + [new]


def read(clients: Clients, namespace: str, name: str) -> dict[str, Any]:
    return REMEDIATION.read(clients, name, namespace)


def write(clients: Clients, remediation: dict[str, Any], status: RemediationStatus) -> dict[str, Any]:
    """Replace the status, conditional on the resourceVersion read."""
    meta = remediation["metadata"]
    body = {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": status.dump()}
    try:
        return REMEDIATION.patch_status(clients, meta["name"], meta["namespace"], body)
    except ApiException as exc:
        if exc.status == 409:
            raise Conflict(meta["name"]) from None
        raise


def update(clients: Clients, namespace: str, name: str, change: Callable[[RemediationStatus], None]) -> None:
    """Apply ``change`` to the freshest status, re-reading on conflicts.

    For parts of the status that one component owns alone (the escalation
    record), so that a concurrent write by the engine never loses them.
    """

    def attempt() -> None:
        current = read(clients, namespace, name)
        status = RemediationStatus.model_validate(current.get("status") or {})
        change(status)
        write(clients, current, status)

    retry_on_conflict(attempt)
