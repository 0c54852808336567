"""Kubernetes Events on targets and Remediations, so ``kubectl describe``
shows what paramedic did and why. Posting an Event never fails an action."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from paramedic.kube import ApiException, Clients, now

log = logging.getLogger(__name__)

COMPONENT = "paramedic"


def post(
    clients: Clients,
    involved: dict[str, Any],
    reason: str,
    message: str,
    *,
    warning: bool = False,
    fallback_namespace: str = "default",
) -> None:
    """Record an Event about ``involved`` (apiVersion, kind, name, namespace, uid)."""
    namespace = involved.get("namespace") or fallback_namespace
    stamp = now()
    body = {
        "metadata": {"name": f"{involved['name'][:200]}.{uuid.uuid4().hex[:12]}", "namespace": namespace},
        "involvedObject": {k: v for k, v in involved.items() if v},
        "reason": reason,
        "message": message[:1024],
        "type": "Warning" if warning else "Normal",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
    try:
        # The response is not built into a typed V1Event (a millisecond of CPU per Event, one per refusal
        # in a storm): drained, which returns the connection to the pool.
        clients.core.create_namespaced_event(namespace, body, _preload_content=False).drain_conn()
    except ApiException as exc:
        log.warning(
            "could not post event %s on %s/%s: %s", reason, involved.get("kind"), involved.get("name"), exc.reason
        )


def involved(obj: dict[str, Any], kind: str, api_version: str) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta["name"],
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
    }
