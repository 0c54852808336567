"""The operator's API requests, counted by the API server itself.

kube-apiserver's own metrics (``apiserver_request_total``) carry no user, so
each operator process gets its own client certificate (its own user) and the
API server writes an audit event for every request of those users, at
Metadata level, to a JSON-lines file. A request is one auditID (a watch logs
ResponseStarted and later ResponseComplete under the same ID).
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


def policy(users: Sequence[str]) -> dict[str, Any]:
    """An audit Policy that logs only ``users``' requests, without bodies."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [{"level": "Metadata", "users": list(users)}, {"level": "None"}],
    }


@dataclasses.dataclass(frozen=True)
class Request:
    at: float  # when the API server received it (epoch seconds)
    user: str
    verb: str
    resource: str  # e.g. "pods", "remediations/status"
    namespace: str
    name: str
    code: int

    @property
    def write(self) -> bool:
        return self.verb in WRITE_VERBS

    @property
    def key(self) -> str:
        return f"{self.verb} {self.resource}"


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def read(log: Path) -> list[Request]:
    """Every request in the audit log, once each, oldest first."""
    seen: dict[str, Request] = {}
    if not log.exists():
        return []
    with log.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line being written right now
            audit_id = event.get("auditID", "")
            if audit_id in seen:
                continue
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            seen[audit_id] = Request(
                at=_epoch(event["requestReceivedTimestamp"]),
                user=(event.get("user") or {}).get("username", ""),
                verb=event.get("verb", ""),
                resource=resource or event.get("requestURI", ""),
                namespace=ref.get("namespace", ""),
                name=ref.get("name", ""),
                code=int((event.get("responseStatus") or {}).get("code") or 0),
            )
    return sorted(seen.values(), key=lambda r: r.at)


def window(requests: Iterable[Request], start: float, end: float, users: Sequence[str] = ()) -> list[Request]:
    return [r for r in requests if start <= r.at < end and (not users or r.user in users)]


def summary(requests: Sequence[Request], top: int = 12) -> dict[str, Any]:
    """Totals, writes, and the commonest kinds of request (verb and resource)."""
    kinds = Counter(r.key for r in requests)
    conflicts = sum(1 for r in requests if r.code == 409)
    return {
        "requests": len(requests),
        "writes": sum(1 for r in requests if r.write),
        "conflicts": conflicts,
        "by_kind": dict(kinds.most_common(top)),
    }
