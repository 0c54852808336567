"""The parameters of the breach-response actions and of applyManifest (kept apart from ``params`` for size).

isolate / release (a NetworkPolicy and its removal), restartConsumersOf (what
uses a rotated Secret or ConfigMap) and applyManifest (a known-good manifest
put back). Each acts only in the step's target namespace, which the access
rules have already authorized, so a tenant's Runbook stays in its namespace.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from .common import LabelSelector, Model, Name
from .params import StepName

# isolate, release (paramedic.actions.isolate, paramedic.actions.release)
#: An IPv4 or IPv6 CIDR; the action parses it (ipaddress) before anything is written.
Cidr = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F:.]+/[0-9]{1,3}$", max_length=43)]
Direction = Literal["Ingress", "Egress"]


def _both_directions() -> list[Direction]:
    return ["Ingress", "Egress"]


class NetworkPeer(Model):
    """Traffic an AllowList isolation still lets through."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.podSelector) && has(self.cidr))",
                    "message": "a peer is podSelector or cidr, not both",
                    "fieldPath": ".cidr",
                },
            ]
        }
    )

    direction: Direction = Field(description="Ingress: traffic to the isolated pods; Egress: traffic from them.")
    pod_selector: LabelSelector | None = Field(
        default=None, description="Pods of the same namespace; unset with cidr unset: any peer (on ports)."
    )
    cidr: Cidr | None = Field(default=None, description="An IP range, e.g. 10.0.0.0/8.")
    ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(
        default_factory=list, max_length=16, description="Only these ports; empty: every port."
    )
    protocol: Literal["TCP", "UDP", "SCTP"] = Field(default="TCP", description="The protocol of ports.")


class IsolateParams(Model):
    """Cut the affected pods off with a NetworkPolicy in the target's namespace."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.mode) && self.mode == 'AllowList') == (has(self.allow) && size(self.allow) > 0)",
                    "message": "isolate.allow lists the peers of mode AllowList, and only of it",
                    "fieldPath": ".allow",
                },
                {
                    "rule": "(has(self.mode) && self.mode == 'BlockSources') == "
                    "(has(self.blockCidrs) && size(self.blockCidrs) > 0)",
                    "message": "isolate.blockCidrs lists the source ranges of mode BlockSources, and only of it",
                    "fieldPath": ".blockCidrs",
                },
            ]
        }
    )

    mode: Literal["DenyAll", "AllowList", "BlockSources"] = Field(
        default="DenyAll",
        description="DenyAll: no traffic in the declared directions. AllowList: only the peers in allow. "
        "BlockSources: ingress from everywhere except the ranges in blockCidrs.",
    )
    directions: list[Direction] = Field(
        default_factory=_both_directions,
        min_length=1,
        max_length=2,
        description="The directions DenyAll and AllowList cut (BlockSources cuts ingress only).",
    )
    pod_selector: LabelSelector | None = Field(
        default=None,
        description="The pods to isolate, in the target's namespace. Default: the target workload's pod selector.",
    )
    allow: list[NetworkPeer] = Field(default_factory=list, max_length=16, description="AllowList: the peers kept.")
    block_cidrs: list[Cidr] = Field(
        default_factory=list, max_length=16, description="BlockSources: the source ranges refused."
    )
    keep: bool = Field(
        default=False,
        description="false: the NetworkPolicy is owned by the Remediation and goes when the Remediation is "
        "deleted (the Remediation must be in the target's namespace). true: it stays until a release step or a "
        "person deletes it.",
    )


class ReleaseParams(Model):
    """Delete the NetworkPolicy an earlier isolate step of this Remediation created, by its recorded name."""

    from_step: StepName = Field(description="The name of the isolate step whose NetworkPolicy to delete.")


# restartConsumersOf (paramedic.actions.restart_consumers_of)
class RestartConsumersParams(Model):
    """Restart every workload in the target's namespace whose pods use a Secret or ConfigMap."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.secret) != has(self.configMap)",
                    "message": "restartConsumersOf needs exactly one of secret or configMap",
                },
            ]
        }
    )

    secret: Name | None = Field(
        default=None, description="The Secret: consumers mount, project or reference it, or pull images with it."
    )
    config_map: Name | None = Field(
        default=None, description="The ConfigMap: consumers mount, project or reference it."
    )


# applyManifest (paramedic.actions.apply_manifest)
ConfigMapKey = Annotated[str, StringConstraints(pattern=r"^[-._a-zA-Z0-9]+$", min_length=1, max_length=253)]
#: What a namespaced Runbook may apply: namespaced kinds the operator's role may create and patch.
TenantKind = Literal["ConfigMap", "Ingress", "Service"]
TENANT_MANIFEST_KINDS: tuple[TenantKind, ...] = ("ConfigMap", "Ingress", "Service")
#: Never applied, whatever a runbook declares: they grant rights or change the API itself.
FORBIDDEN_MANIFEST_KINDS = (
    "Namespace",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "ServiceAccount",
    "CustomResourceDefinition",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
)


class ApplyManifestBase(Model):
    """What both kinds of runbook give applyManifest; the allowed kinds depend on the kind."""

    config_map: Name = Field(description="The ConfigMap holding the manifest, in the target's namespace.")
    key: ConfigMapKey = Field(description="Its key: one or several YAML documents (at most 64 KiB, 20 documents).")
    force_conflicts: bool = Field(
        default=False, description="Take over fields another field manager owns (server-side apply force)."
    )
    kinds: list[str] = Field(default_factory=list, description="The kinds the manifest may hold.")


class ApplyManifestParams(ApplyManifestBase):
    """Server-side apply (field manager paramedic) of a known-good manifest from a ConfigMap, into the target's
    namespace only."""

    model_config = ConfigDict(title="ApplyManifest")

    kinds: list[TenantKind] = Field(  # type: ignore[assignment]
        default_factory=lambda: list(TENANT_MANIFEST_KINDS),
        max_length=3,
        description="The kinds the manifest may hold, among ConfigMap, Ingress and Service (default: all three).",
    )


class ClusterApplyManifestParams(ApplyManifestBase):
    """Server-side apply (field manager paramedic) of a known-good manifest from a ConfigMap, into the target's
    namespace; the kinds are the ClusterRunbook's to declare (never RBAC, CRDs, webhooks or Namespaces)."""

    model_config = ConfigDict(
        title="ClusterApplyManifest",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.kinds.all(k, !(k in " + repr(list(FORBIDDEN_MANIFEST_KINDS)) + "))",
                    "message": "applyManifest.kinds never names RBAC, CRDs, webhooks, admission policies, "
                    "ServiceAccounts or Namespaces",
                    "fieldPath": ".kinds",
                },
            ]
        },
    )

    kinds: list[Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Za-z0-9]*$", max_length=63)]] = Field(
        default_factory=lambda: [str(k) for k in TENANT_MANIFEST_KINDS],
        max_length=16,
        description="The namespaced kinds the manifest may hold (default ConfigMap, Ingress, Service); the "
        "operator's role must grant get, create and patch on each.",
    )
