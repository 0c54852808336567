"""The runbook snapshot a Remediation runs from, sealed at acceptance.

Steps run from ``status.runbookSpec`` so that editing a runbook never
changes a Remediation half-way. Whoever can write ``remediations/status``
could therefore write steps of their own; tenants' roles do not grant it,
and the snapshot is sealed as a second line: at acceptance the operator
records an HMAC of the snapshot (keyed by a Secret in its own namespace,
bound to the Remediation's uid) and refuses to run a step from a snapshot
that no longer matches it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from paramedic.kube import ApiException, Clients
from paramedic.kube.secrets import secret_bytes

log = logging.getLogger(__name__)

#: The Secret (in the operator's namespace) holding the sealing key.
KEY_SECRET = "paramedic-snapshot-key"
_KEY_FIELD = "key"


def _numbers(value: Any) -> Any:
    """JSON through the API server loses a float's ``.0`` (2.0 comes back as 2): seal numbers by value."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def seal(key: bytes, uid: str, runbook_kind: str, runbook_name: str, spec: Mapping[str, Any]) -> str:
    """The digest recorded at acceptance: HMAC-SHA256 over the Remediation's uid and the canonical snapshot."""
    snapshot = [uid, runbook_kind, runbook_name, _numbers(spec)]
    canonical = json.dumps(snapshot, sort_keys=True, separators=(",", ":"))
    return "hmac-sha256:" + hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def intact(key: bytes, uid: str, runbook_kind: str, runbook_name: str, spec: Mapping[str, Any], recorded: str) -> bool:
    return hmac.compare_digest(seal(key, uid, runbook_kind, runbook_name, spec), recorded or "")


def load_key(clients: Clients, namespace: str) -> bytes:
    """The sealing key, created once (32 random bytes) and shared by every replica through the Secret."""
    try:
        key = secret_bytes(clients, namespace, KEY_SECRET, _KEY_FIELD)
    except ApiException as exc:
        if exc.status != 404:
            raise
        body = {
            "metadata": {"name": KEY_SECRET, "labels": {"app.kubernetes.io/part-of": "paramedic"}},
            "type": "Opaque",
            "data": {_KEY_FIELD: base64.b64encode(secrets.token_bytes(32)).decode()},
        }
        try:
            clients.core.create_namespaced_secret(namespace, body)
            log.info("created the snapshot sealing key Secret %s/%s", namespace, KEY_SECRET)
        except ApiException as create_error:
            if create_error.status != 409:  # another replica made it first: read theirs
                raise
        key = secret_bytes(clients, namespace, KEY_SECRET, _KEY_FIELD)
    if key is None:
        raise KeyError(f"the Secret {namespace}/{KEY_SECRET} has no {_KEY_FIELD}")
    return key
