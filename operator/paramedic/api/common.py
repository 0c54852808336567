"""Building blocks shared by every paramedic resource.

Field names are snake_case in Python and camelCase on the wire, as
Kubernetes APIs are. Every field carries a description: it becomes the CRD's
OpenAPI description, which is what ``kubectl explain`` prints.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

# The group and the duration rule live on the ground floor (paramedic.kube), which stands below the models.
from paramedic.kube.durations import DURATION_PATTERN as DURATION_PATTERN
from paramedic.kube.durations import parse_duration as parse_duration
from paramedic.kube.kinds import API_VERSION as API_VERSION
from paramedic.kube.kinds import GROUP as GROUP
from paramedic.kube.kinds import VERSION as VERSION
from paramedic.kube.times import as_utc
from paramedic.kube.times import rfc3339 as rfc3339
from paramedic.kube.times import utcnow as utcnow

Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN, max_length=32)]
"""A Go-style duration such as ``90s``, ``5m`` or ``1h30m``."""

# Every free-text field of the API is bounded: what tenants write is copied
# into every Remediation's status, and sizes must not be theirs to choose.
Name = Annotated[str, StringConstraints(min_length=1, max_length=253)]
"""An object name or a cloud identifier."""
Label = Annotated[str, StringConstraints(max_length=63)]
"""A label value, namespace or container name."""
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=317)]
"""A label key: an optional DNS-subdomain prefix and a name."""
Text = Annotated[str, StringConstraints(max_length=1024)]
"""Free text for humans: a reason, a description line."""


LIST_MAP_KEYS = "x-paramedic-list-map-keys"
"""A model-level schema marker: lists of this model are map lists keyed by these (required) fields."""


Time = Annotated[datetime, AfterValidator(as_utc), PlainSerializer(rfc3339, return_type=str, when_used="json")]
"""A point in time: a ``datetime`` in Python, RFC 3339 on the wire (``format: date-time`` in the CRD), written
to the second in UTC as Kubernetes writes its own times. Status written as strings by an older operator loads
unchanged, since those strings are RFC 3339 too."""


BoundedTime = Annotated[Time, WithJsonSchema({"type": "string", "format": "date-time", "maxLength": 64})]
"""A ``Time`` in a spec, where every field is bounded (the schema's length bound; any RFC 3339 time fits)."""


class Model(BaseModel):
    """Base of every API type: camelCase aliases, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
    )

    def by_alias(self, alias: str) -> Any:
        """The value of the field whose wire name is ``alias``."""
        for name, info in type(self).model_fields.items():
            if (info.alias or name) == alias:
                return getattr(self, name)
        raise KeyError(alias)

    def dump(self) -> dict[str, Any]:
        """The wire form: camelCase, without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class OneOf(Model):
    """A choice: exactly one of the fields ``one_of`` (wire names) is set.

    The API server's CEL rule and the validator that ``paramedic lint`` and
    the engine run are both derived from ``one_of``, so the two cannot drift.
    """

    one_of: ClassVar[tuple[str, ...]] = ()
    one_of_message: ClassVar[str] = ""

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        rules = handler.resolve_ref_schema(schema).setdefault("x-kubernetes-validations", [])
        rule = {
            "rule": " + ".join(f"(has(self.{f}) ? 1 : 0)" for f in cls.one_of) + " == 1",
            "message": cls.one_of_message,
        }
        if rule not in rules:
            rules.append(rule)
        return schema

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        chosen = self.chosen()
        if len(chosen) != 1:
            raise ValueError(f"{self.one_of_message}; this one sets {', '.join(chosen) or 'none'}")
        return self

    def chosen(self) -> list[str]:
        """The fields of ``one_of`` that are set (exactly one, once validated)."""
        return [f for f in self.one_of if self.by_alias(f) is not None]


class LabelSelectorRequirement(Model):
    key: LabelKey = Field(description="The label key the selector applies to.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(description="How the key relates to the values.")
    values: list[Label] | None = Field(
        default=None, max_length=64, description="Values for In and NotIn; must be empty for Exists and DoesNotExist."
    )


class LabelSelector(Model):
    """A Kubernetes label selector. An empty selector matches everything."""

    match_labels: dict[LabelKey, Label] | None = Field(
        default=None,
        max_length=64,
        description="Labels that must all be present with these values.",
    )
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        default=None, max_length=32, description="Requirements that must all hold."
    )


class ObjectRef(Model):
    """The object a Remediation acts on."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.kind != 'Node' || !has(self.namespace)",
                    "message": "target.namespace must be empty for a Node (nodes are cluster-scoped)",
                    "fieldPath": ".namespace",
                }
            ]
        }
    )

    api_version: Annotated[str, StringConstraints(max_length=64)] = Field(
        default="v1", description="API version of the target, e.g. apps/v1 for a Deployment, v1 for a Pod or Node."
    )
    kind: Literal[
        "Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "HorizontalPodAutoscaler", "Node", "Job"
    ] = Field(description="Kind of the target.")
    name: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(description="Name of the target.")
    namespace: Label | None = Field(
        default=None,
        description="Namespace of the target; defaults to the Remediation's own. Empty for a Node.",
    )

    def describe(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


Username = Annotated[str, StringConstraints(min_length=1, max_length=512)]
"""A Kubernetes username or group name as the API server authenticates it (request.userInfo)."""


class Approvers(Model):
    """The people who may approve (and resolve) a Remediation, by username or group.

    Checked by the ValidatingAdmissionPolicy ``paramedic-remediations`` against
    ``request.userInfo``, so only the API server's word on who someone is counts.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.users) ? size(self.users) : 0) + (has(self.groups) ? size(self.groups) : 0) > 0",
                    "message": "approvers name at least one user or group",
                }
            ]
        }
    )

    users: list[Username] = Field(
        default_factory=list, max_length=50, description="Usernames, exactly as the API server knows them."
    )
    groups: list[Username] = Field(default_factory=list, max_length=50, description="Groups; any member may approve.")

    @model_validator(mode="after")
    def _someone(self) -> Approvers:
        if not self.users and not self.groups:
            raise ValueError("approvers name at least one user or group")
        return self


class Condition(Model):
    """A standard Kubernetes condition (metav1.Condition)."""

    # Every list of conditions is a map list keyed by type (the CRD generator hoists this marker onto the list):
    # the API server rejects two conditions of one type, and server-side apply merges conditions by type instead
    # of replacing the whole list, as upstream declares metav1.Condition lists.
    model_config = ConfigDict(json_schema_extra={LIST_MAP_KEYS: ["type"]})

    type: str = Field(description="Type of the condition, e.g. Accepted or Ready.")
    status: Literal["True", "False", "Unknown"] = Field(description="Status of the condition.")
    reason: str = Field(description="One CamelCase word saying why the condition is in this status.")
    message: str = Field(default="", description="A human-readable explanation.")
    last_transition_time: Time = Field(description="When the status last changed (RFC 3339).")
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation the condition was set for."
    )
