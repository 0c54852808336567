"""Generate the CustomResourceDefinitions from the pydantic models.

The models are the single source of truth; ``python -m paramedic.api.crdgen
crds/`` writes the YAML and the test-suite fails when ``crds/`` is stale.
Pydantic emits JSON Schema 2020-12; Kubernetes wants a *structural* OpenAPI
v3.0 schema, so references are inlined, Optional unions collapsed, and a few
keywords translated.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from .common import GROUP, LIST_MAP_KEYS, VERSION, Model
from .resources import RESOURCES, Resource

_DROP = {"title", "additionalProperties", "$defs"}
_FORMATS = {"date-time", "int32", "int64", "double", "float"}


def structural(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Turn one pydantic JSON Schema node into a structural OpenAPI v3.0 node."""
    defs = schema.get("$defs", {}) if defs is None else defs
    node = copy.deepcopy(schema)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        merged = {**copy.deepcopy(target), **node}  # a field's description wins over the model's
        return structural(merged, defs)
    for union in ("anyOf", "oneOf"):
        if union in node:
            options = [o for o in node.pop(union) if o.get("type") != "null"]
            if sorted(o.get("type", "") for o in options) == ["integer", "string"]:
                node = {**node, **_int_or_string(options)}
                continue
            if len(options) != 1:
                raise ValueError(f"cannot express a union of {options} in a structural schema")
            inner = structural(options[0], defs)
            inner.update({k: v for k, v in node.items() if k in ("description", "default")})
            node = {**node, **inner}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("default", 0) is None:
        del node["default"]
    additional = node.get("additionalProperties")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: structural(prop, defs) for name, prop in value.items()}
        elif key == "items":
            out[key] = structural(value, defs)
            keys = out[key].pop(LIST_MAP_KEYS, None)
            if keys:  # a list of a keyed model (Condition): a map list, so that duplicates are rejected
                out["x-kubernetes-list-type"] = "map"
                out["x-kubernetes-list-map-keys"] = keys
        elif key == "format" and value not in _FORMATS:
            continue
        elif key == "propertyNames":
            # Kubernetes schemas have no propertyNames: the key length becomes a CEL rule.
            limit = value["maxLength"]
            out.setdefault("x-kubernetes-validations", []).append(
                {"rule": f"self.all(k, size(k) <= {limit})", "message": f"keys must be at most {limit} characters"}
            )
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        else:
            out[key] = value
    if isinstance(additional, dict) and additional:
        out["additionalProperties"] = structural(additional, defs)
    elif additional is True or (isinstance(additional, dict) and not additional):
        out["x-kubernetes-preserve-unknown-fields"] = True
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out.setdefault("properties", {})
    return out


def _int_or_string(options: list[dict[str, Any]]) -> dict[str, Any]:
    """``int | str`` (a quantity such as 1 or 500m): Kubernetes' int-or-string, keeping the string's rules."""
    text = next(o for o in options if o.get("type") == "string")
    number = next(o for o in options if o.get("type") == "integer")
    rules = {k: v for k, v in text.items() if k in ("pattern", "maxLength")}
    if "minimum" in number:
        rules["x-kubernetes-validations"] = [
            {
                "rule": f"type(self) != int || self >= {number['minimum']}",
                "message": f"must be at least {number['minimum']}",
            }
        ]
    return {"x-kubernetes-int-or-string": True, **rules}


def model_schema(model: type[Model]) -> dict[str, Any]:
    return structural(model.model_json_schema(by_alias=True, mode="validation"))


def check_descriptions(schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths of properties without a description (kubectl explain would show nothing)."""
    missing = []
    for name, prop in (schema.get("properties") or {}).items():
        here = f"{path}.{name}"
        if not prop.get("description"):
            missing.append(here)
        missing += check_descriptions(prop, here)
        if "items" in prop:
            missing += check_descriptions(prop["items"], here + "[]")
    return missing


def crd(resource: Resource) -> dict[str, Any]:
    spec = model_schema(resource.spec)
    if resource.spec_rules:
        spec.setdefault("x-kubernetes-validations", []).extend(resource.spec_rules)
    spec["description"] = f"Desired state of the {resource.kind}."
    status = model_schema(resource.status)
    status["description"] = f"Observed state of the {resource.kind}, written by the operator."
    root = {
        "type": "object",
        "description": resource.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object: paramedic.dev/v1alpha1."},
            "kind": {"type": "string", "description": f"Kind of this object: {resource.kind}."},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{resource.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced" if resource.namespaced else "Cluster",
            "names": {
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                "plural": resource.plural,
                "singular": resource.singular,
                "shortNames": list(resource.short_names),
                "categories": ["paramedic"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(resource.columns),
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


HEADER = "# Generated by `python -m paramedic.api.crdgen crds/` from operator/paramedic/api. Do not edit.\n"


def render(resource: Resource) -> str:
    return HEADER + yaml.safe_dump(crd(resource), sort_keys=False, width=120)


def files() -> dict[str, str]:
    crds = {f"{GROUP}_{r.plural}.yaml": render(r) for r in RESOURCES}
    # So that deploy/ can include crds/ as a kustomize base.
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(crds),
    }
    return {**crds, "kustomization.yaml": HEADER + yaml.safe_dump(kustomization, sort_keys=False)}
