"""Generate the CustomResourceDefinitions from the pydantic models.

The models are the single source of truth; ``python -m paramedic.api.crdgen
crds/`` writes the YAML and the test-suite fails when ``crds/`` is stale.
Pydantic emits JSON Schema 2020-12; Kubernetes wants a *structural* OpenAPI
v3.0 schema, so references are inlined, Optional unions collapsed, and a few
keywords translated.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml
from pydantic.json_schema import GenerateJsonSchema, NoDefault
from pydantic_core import core_schema

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


def _dumped(value: Any) -> Any:
    """A default as it goes on the wire: models by their wire form (no nulls: a null in a default is refused)."""
    if isinstance(value, Model):
        return value.dump()
    if isinstance(value, list):
        return [_dumped(v) for v in value]
    if isinstance(value, dict):
        return {k: _dumped(v) for k, v in value.items()}
    return value


def _says_something(value: Any) -> bool:
    """Whether a factory default is worth publishing: not an empty list or map (nor a map of empty lists, such
    as ``{kinds: []}``), which would only add noise to every object. ``{manual: {}}`` says something."""
    if isinstance(value, list | dict) and not value:
        return False
    if isinstance(value, dict):
        return any(not (isinstance(v, list) and not v) for v in value.values())
    return True


class WithFactoryDefaults(GenerateJsonSchema):
    """Pydantic publishes only literal defaults; this also publishes what a ``default_factory`` makes (the
    default RateLimitPolicy's windows, its storm breaker...), so that ``kubectl explain`` shows them and the API
    server fills them in: what a user reads back is what the operator will use.

    The API server defaults on every read and write, the old object too, before CEL rules run: a transition
    rule such as ``self.dryRun == oldSelf.dryRun`` compares defaulted values on both sides, so a default
    added later never makes an old object look changed. Status gets no factory defaults (``crd``), and
    ``check_defaults`` refuses the two places where a default would build a wrong object."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is None or schema.get("default_factory_takes_data"):
            return super().get_default_value(schema)
        value = _dumped(factory())  # type: ignore[call-arg]
        return value if _says_something(value) else NoDefault


def model_schema(model: type[Model], *, factory_defaults: bool = True) -> dict[str, Any]:
    generator = WithFactoryDefaults if factory_defaults else GenerateJsonSchema
    return structural(model.model_json_schema(by_alias=True, mode="validation", schema_generator=generator))


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


def check_defaults(node: dict[str, Any], path: str = "", *, free: bool = False) -> None:
    """Refuse defaults the API server would turn into a wrong object.

    A default on a member of an exactly-one choice (an ``OneOf``: an action of a step, a trigger kind, a
    channel) would make every object set two members; a default beneath ``x-kubernetes-preserve-unknown-fields``
    is not pruned the same way and lands in free-form data the operator passes on (a pod template)."""
    if free and "default" in node:
        raise ValueError(f"{path}: no default beneath x-kubernetes-preserve-unknown-fields")
    free = free or bool(node.get("x-kubernetes-preserve-unknown-fields"))
    properties = node.get("properties") or {}
    for rule in node.get("x-kubernetes-validations") or []:
        if "? 1 : 0)" not in rule["rule"]:
            continue
        for name in re.findall(r"has\(self\.(\w+)\)", rule["rule"]):
            if "default" in properties.get(name, {}):
                raise ValueError(f"{path}.{name}: a member of a one-of choice cannot have a default")
    for name, prop in properties.items():
        check_defaults(prop, f"{path}.{name}", free=free)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            check_defaults(node[key], f"{path}[]", free=free)


def crd(resource: Resource) -> dict[str, Any]:
    spec = model_schema(resource.spec)
    if resource.spec_rules:
        spec.setdefault("x-kubernetes-validations", []).extend(resource.spec_rules)
    spec["description"] = f"Desired state of the {resource.kind}."
    # The status is the operator's to write, in full: a factory default there would be the API server
    # inventing an observation (the literal defaults it has are what the operator writes anyway).
    status = model_schema(resource.status, factory_defaults=False)
    status["description"] = f"Observed state of the {resource.kind}, written by the operator."
    check_defaults(spec, "spec")
    check_defaults(status, "status")
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
