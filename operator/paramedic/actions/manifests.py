"""A known-good manifest read as data, checked against the runbook's scope, and the diff of applying it (pure).

The text comes from a ConfigMap a runbook names, so it is bounded before it
is parsed (size, documents, no YAML aliases: a few bytes of anchors can
expand to gigabytes once serialized), parsed with ``yaml.safe_load_all``
(data, never objects), and each document must be a namespaced object of a
kind the step allows, in the target's namespace.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

#: The largest manifest read, in bytes (a ConfigMap holds at most 1 MiB; a known-good manifest is far smaller).
MAX_BYTES = 64 * 1024
MAX_DOCUMENTS = 20
#: At most this many changed fields recorded per object.
MAX_CHANGED = 30
#: What the API server sets or changes on every write: never part of the diff.
_NOISE = {"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"}


class Invalid(ValueError):
    """The manifest cannot be applied: the message says why, for the step's status."""


@dataclasses.dataclass(frozen=True)
class Document:
    api_version: str
    kind: str
    name: str
    body: dict[str, Any]

    def describe(self) -> str:
        return f"{self.kind}/{self.name}"


def parse(text: str) -> list[dict[str, Any]]:
    """The manifest's documents, as plain data; Invalid when it is too large, aliased or not YAML."""
    if len(text.encode()) > MAX_BYTES:
        raise Invalid(f"the manifest is larger than {MAX_BYTES} bytes")
    try:
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise Invalid("the manifest uses YAML aliases (*name): write each value out")
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise Invalid(f"the manifest is not valid YAML: {exc}") from None
    if not documents:
        raise Invalid("the manifest holds no document")
    if len(documents) > MAX_DOCUMENTS:
        raise Invalid(f"the manifest holds {len(documents)} documents; at most {MAX_DOCUMENTS}")
    return documents


def check(documents: Iterable[Any], allowed: Iterable[str], forbidden: Iterable[str], namespace: str) -> list[Document]:
    """Each document as a Document placed in ``namespace``; Invalid naming the first that may not be applied."""
    allowed, forbidden = set(allowed), set(forbidden)
    checked = []
    for index, doc in enumerate(documents):
        where = f"document {index + 1}"
        if not isinstance(doc, dict):
            raise Invalid(f"{where} is not an object")
        meta = doc.get("metadata")
        api_version, kind = doc.get("apiVersion"), doc.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str) or not isinstance(meta, dict):
            raise Invalid(f"{where} needs apiVersion, kind and metadata")
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise Invalid(f"{where} ({kind}) needs metadata.name")
        if kind in forbidden or kind not in allowed:
            raise Invalid(f"{where} is a {kind}; this step applies only {', '.join(sorted(allowed))}")
        declared = meta.get("namespace")
        if declared not in (None, "", namespace):
            raise Invalid(f"{where} ({kind}/{name}) is for namespace {declared}; this step applies only in {namespace}")
        body = {**doc, "metadata": {**meta, "namespace": namespace}}
        checked.append(Document(api_version, kind, name, body))
    return checked


def _flat(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flat(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            _flat(item, f"{path}[{index}]", out)
    else:
        out[path] = value


def _comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _NOISE}
    return {k: v for k, v in obj.items() if k != "status"} | {"metadata": meta}


def changed_fields(current: Mapping[str, Any] | None, applied: Mapping[str, Any]) -> list[str]:
    """The field paths whose values applying would change (sorted, bounded); ["*"] when the object is new."""
    if current is None:
        return ["*"]
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    _flat(_comparable(current), "", before)
    _flat(_comparable(applied), "", after)
    paths = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    return paths if len(paths) <= MAX_CHANGED else [*paths[:MAX_CHANGED], f"... {len(paths) - MAX_CHANGED} more"]
