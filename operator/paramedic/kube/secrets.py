"""Reading one value of a Secret: the API returns it base64-encoded."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import Clients


def secret_bytes(clients: Clients, namespace: str, name: str, key: str) -> bytes | None:
    """The decoded value of ``key``, None when the Secret has no such key (ApiException when it is absent)."""
    secret = clients.core.read_namespaced_secret(name, namespace)
    data = (secret.data or {}).get(key)
    return base64.b64decode(data) if data else None


def secret_text(clients: Clients, namespace: str, name: str, key: str) -> str | None:
    """The value as text without surrounding whitespace (tokens and URLs are often stored with a newline)."""
    value = secret_bytes(clients, namespace, name, key)
    return value.decode().strip() if value is not None else None
