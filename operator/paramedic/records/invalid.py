"""Objects the API server accepted but the operator cannot load.

The CRDs' schemas and CEL rules reject almost everything the models would,
but not all: an object applied while an older CRD was installed, or a rule
only the operator checks. Such an object must not become a retry storm (an
exception per event, retried by Kopf) nor go unnoticed (a log line nobody
reads). It gets, once per generation: a ``Ready=False`` condition with reason
``Invalid`` and a message naming the fields, one Warning Event and one log
line. Whether it was said already is read from the condition itself (its
``observedGeneration``), so a restart does not say it again; editing the
object (a new generation) is what makes the operator look again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from paramedic.kube import ApiException, Clients, now
from paramedic.kube.kinds import API_VERSION, KINDS
from paramedic.records import events

log = logging.getLogger(__name__)

REASON = "Invalid"
#: How many of a spec's errors the message names (the rest are counted).
SHOWN = 3


def field_path(loc: Sequence[int | str], root: str = "spec") -> str:
    """A pydantic error location as a field path: ``spec.steps[0].scale.by``."""
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def explain(exc: ValidationError, root: str = "spec") -> str:
    """The first few errors, each naming its field; a bounded message (no input values: they may be long)."""
    errors = exc.errors(include_url=False, include_input=False)
    said = "; ".join(f"{field_path(e['loc'], root)}: {e['msg']}" for e in errors[:SHOWN])
    return said + (f" (and {len(errors) - SHOWN} more)" if len(errors) > SHOWN else "")


def ready(status: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return next((c for c in (status or {}).get("conditions") or [] if c.get("type") == "Ready"), None)


def ready_condition(
    status: Mapping[str, Any] | None, ok: bool, reason: str, message: str, generation: int | None
) -> dict[str, Any]:
    """An object's Ready condition as one writer words it (this module for Invalid/Valid, the dispatcher for a
    runbook's armed trigger): it keeps its lastTransitionTime while its status stays the same."""
    flag = "True" if ok else "False"
    old = ready(status)
    since = old.get("lastTransitionTime") if old is not None and old.get("status") == flag else None
    return {
        "type": "Ready",
        "status": flag,
        "reason": reason,
        "message": message[:1024],
        "lastTransitionTime": since or now(),
        "observedGeneration": generation,
    }


def with_ready(status: Mapping[str, Any] | None, condition: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The object's conditions with Ready replaced in place (or added): a merge patch replaces the whole list,
    so the other conditions are written back as they were."""
    conditions = [dict(c) for c in (status or {}).get("conditions") or [] if isinstance(c, Mapping)]
    at = next((i for i, c in enumerate(conditions) if c.get("type") == "Ready"), None)
    if at is None:
        return [*conditions, dict(condition)]
    conditions[at] = dict(condition)
    return conditions


def already_said(status: Mapping[str, Any] | None, generation: int | None, message: str) -> bool:
    """The object's Ready condition already says this, for this generation."""
    condition = ready(status)
    return (
        condition is not None
        and condition.get("reason") == REASON
        and condition.get("observedGeneration") == generation
        and condition.get("message") == message
    )


def _mark(clients: Clients, plural: str, obj: Mapping[str, Any], ready: bool, reason: str, message: str) -> bool:
    """Write the object's Ready condition (and a runbook's lastError); False when the write failed."""
    meta = obj["metadata"]
    generation = meta.get("generation")
    condition = ready_condition(obj.get("status"), ready, reason, message, generation)
    body: dict[str, Any] = {"status": {"conditions": with_ready(obj.get("status"), condition)}}
    if not ready:
        body["status"]["observedGeneration"] = generation
    if plural in ("runbooks", "clusterrunbooks"):
        body["status"]["lastError"] = "" if ready else message[:1024]
    kind = next(k for k in KINDS.values() if k.plural == plural and k.custom)
    try:
        kind.patch_status(clients, meta["name"], meta.get("namespace"), body)
    except ApiException as exc:
        log.warning("could not mark %s %s %s: %s", kind.name, meta["name"], reason, exc.reason)
        return False
    return True


def report(clients: Clients, plural: str, kind: str, obj: Mapping[str, Any], message: str) -> None:
    """Say it once: the condition (which makes ``already_said`` true), one Event, one log line."""
    meta = obj["metadata"]
    namespace, name, generation = meta.get("namespace"), meta["name"], meta.get("generation")
    if not _mark(clients, plural, obj, False, REASON, message):
        return
    where = f"{namespace}/" if namespace else ""
    log.warning("%s %s%s (generation %s) is invalid and ignored: %s", kind, where, name, generation, message)
    involved = {"apiVersion": API_VERSION, "kind": kind, "name": name, "namespace": namespace, "uid": meta.get("uid")}
    events.post(clients, involved, REASON, message, warning=True, fallback_namespace="default")


def valid_again(clients: Clients, plural: str, obj: Mapping[str, Any]) -> None:
    """An object marked Invalid was fixed: its Ready condition says so (a trigger or a policy may write its
    own afterwards)."""
    _mark(clients, plural, obj, True, "Valid", "the spec is valid")
