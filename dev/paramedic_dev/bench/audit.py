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


def _parse(line: str) -> tuple[str, Request] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    ref = event.get("objectRef") or {}
    resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
    return event.get("auditID", ""), Request(
        at=_epoch(event["requestReceivedTimestamp"]),
        user=(event.get("user") or {}).get("username", ""),
        verb=event.get("verb", ""),
        resource=resource or event.get("requestURI", ""),
        namespace=ref.get("namespace", ""),
        name=ref.get("name", ""),
        code=int((event.get("responseStatus") or {}).get("code") or 0),
    )


class AuditLog:
    """The audit log, read incrementally: each call parses only the lines written since the last one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._seen: dict[str, Request] = {}

    def requests(self) -> list[Request]:
        """Every request so far, once each, oldest first."""
        if self.path.exists():
            with self.path.open("rb") as log:
                log.seek(self._offset)
                chunk = log.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]  # a line being written now waits for the next call
            self._offset += len(complete)
            for line in complete.decode("utf-8", errors="replace").splitlines():
                parsed = _parse(line)
                if parsed is not None and parsed[0] not in self._seen:
                    self._seen[parsed[0]] = parsed[1]
        return sorted(self._seen.values(), key=lambda r: r.at)


def read(path: Path) -> list[Request]:
    """Every request in the audit log at ``path``, once each, oldest first."""
    return AuditLog(path).requests()


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
