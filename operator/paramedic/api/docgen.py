"""The API reference (docs/reference.md), generated from the same schemas as the CRDs."""

from __future__ import annotations

import json
from typing import Any

from .crd import crd
from .resources import RESOURCES


def _type(node: dict[str, Any]) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{v if isinstance(v, str) else json.dumps(v)}`" for v in node["enum"])
    if node.get("x-kubernetes-int-or-string"):
        return "integer or string"
    kind = str(node.get("type", "object"))
    if kind == "array":
        return f"list of {_type(node.get('items') or {})}"
    if kind == "object" and "additionalProperties" in node:
        return "map of string"
    return kind


def _value(default: Any) -> str:
    """A default as a user writes it: plain for a scalar, JSON (flow YAML) for a list or an object."""
    return json.dumps(default) if isinstance(default, list | dict) else str(default)


def _rows(node: dict[str, Any], path: str) -> list[str]:
    rows = []
    required = set(node.get("required") or [])
    for name, prop in (node.get("properties") or {}).items():
        here = f"{path}.{name}" if path else name
        description = " ".join(str(prop.get("description", "")).split()).replace("|", "\\|")
        default = f" Default: `{_value(prop['default'])}`." if prop.get("default") not in (None, [], {}, "") else ""
        mark = " (required)" if name in required else ""
        rows.append(f"| `{here}`{mark} | {_type(prop)} | {description}{default} |")
        child = prop.get("items") if prop.get("type") == "array" else prop
        if isinstance(child, dict) and child.get("properties"):
            rows += _rows(child, here + ("[]" if prop.get("type") == "array" else ""))
    return rows


def render() -> str:
    parts = [
        "# API reference (paramedic.dev/v1alpha1)",
        "",
        "Generated from the models by `make crds`; `kubectl explain` shows the same text.",
        "",
    ]
    for resource in RESOURCES:
        schema = crd(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        scope = "namespaced" if resource.namespaced else "cluster-scoped"
        short = ", ".join(resource.short_names)
        parts += [f"## {resource.kind}", "", f"{resource.description} ({scope}; short name {short})", ""]
        for section in ("spec", "status"):
            rows = _rows(schema["properties"][section], section)
            if rows:
                parts += ["| field | type | description |", "|---|---|---|", *rows, ""]
    return "\n".join(parts)
