"""isolate: cut the affected pods off the network with a NetworkPolicy, the first move of a breach response.

The policy is computed whole at plan time and recorded (its name and spec),
so applying it again after an operator restart creates nothing twice: a 409
on a policy that carries this step's key is the same policy, already there.
It lives in the target's namespace (which the access rules authorized for
this Remediation) and selects pods there only, since NetworkPolicies are
namespaced: a tenant's Runbook cannot cut off another team's pods.

Unless the step says ``keep: true``, the Remediation owns the policy (an
ownerReference), so deleting the Remediation removes it; an ownerReference
cannot cross namespaces, so that needs the Remediation in the target's
namespace. ``release`` removes it earlier, by the name recorded here.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from paramedic.api.breach_params import IsolateParams as Params
from paramedic.api.common import LabelSelector
from paramedic.kube import ApiException
from paramedic.kube.kinds import API_VERSION

from . import workloads
from .base import Action, ActionFailed, Context, Done, Plan

#: The annotation naming the Remediation step (uid/index) that made the policy: release deletes nothing else.
MADE_BY = "paramedic.dev/isolated-by"
MANAGED = {"app.kubernetes.io/managed-by": "paramedic"}


def policy_name(ctx: Context) -> str:
    """paramedic-isolate-<remediation>-<step>, cut to a DNS label with a digest when long."""
    name = f"paramedic-isolate-{ctx.remediation_name}-{ctx.step_index}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(ctx.key.encode()).hexdigest()[:10]
    return f"{name[:52].rstrip('-.')}-{digest}"


def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError as exc:
        raise ActionFailed(f"isolate: {cidr} is not a CIDR range: {exc}", "InvalidCidr") from None


def _peer(peer: Any) -> dict[str, Any]:
    """One NetworkPolicy rule from an allow-list peer."""
    rule: dict[str, Any] = {}
    if peer.pod_selector is not None:
        rule["peers"] = [{"podSelector": peer.pod_selector.dump()}]
    elif peer.cidr is not None:
        rule["peers"] = [{"ipBlock": {"cidr": str(_network(peer.cidr))}}]
    if peer.ports:
        rule["ports"] = [{"port": port, "protocol": peer.protocol} for port in peer.ports]
    return rule


def policy_spec(params: Params, pod_selector: dict[str, Any]) -> dict[str, Any]:
    """The NetworkPolicy spec the step declares (pure: unit-tested on its own)."""
    if params.mode == "BlockSources":
        nets = [_network(c) for c in params.block_cidrs]
        families = {n.version for n in nets}
        sources: list[dict[str, Any]] = [
            {
                "ipBlock": {
                    "cidr": "0.0.0.0/0" if version == 4 else "::/0",
                    "except": sorted(str(n) for n in nets if n.version == version),
                }
            }
            for version in sorted(families)
        ]
        return {"podSelector": pod_selector, "policyTypes": ["Ingress"], "ingress": [{"from": sources}]}
    directions = sorted(set(params.directions))
    spec: dict[str, Any] = {"podSelector": pod_selector, "policyTypes": directions}
    for direction in directions:
        rules = []
        for peer in params.allow if params.mode == "AllowList" else []:
            if peer.direction != direction:
                continue
            rule = _peer(peer)
            if "peers" in rule:
                rule["from" if direction == "Ingress" else "to"] = rule.pop("peers")
            rules.append(rule)
        spec[direction.lower()] = rules
    return spec


def _selector(ctx: Context, params: Params) -> dict[str, Any]:
    if params.pod_selector is not None:
        return params.pod_selector.dump()
    selector = (ctx.target.obj.get("spec") or {}).get("selector")
    if not selector:
        raise ActionFailed(f"isolate: {ctx.target.describe()} has no pod selector", "NoSelector")
    # Through the model: only matchLabels/matchExpressions, as the API's LabelSelector has.
    return LabelSelector.model_validate(selector).dump()


class Isolate(Action[Params]):
    name = "isolate"
    kinds = workloads.WORKLOADS
    params_model = Params

    def plan(self, ctx: Context, params: Params) -> Plan:
        namespace = ctx.target.namespace
        assert namespace is not None
        if not params.keep and ctx.remediation_namespace != namespace:
            raise ActionFailed(
                f"isolate with keep: false makes the Remediation own the NetworkPolicy, and an ownerReference "
                f"cannot cross namespaces ({ctx.remediation_namespace} -> {namespace}): use keep: true and a "
                "release step",
                "OwnerInOtherNamespace",
            )
        name = policy_name(ctx)
        spec = policy_spec(params, _selector(ctx, params))
        what = {"DenyAll": "deny-all", "AllowList": "allow-list", "BlockSources": "blocked sources"}[params.mode]
        return Plan(
            f"isolate pods of {ctx.target.describe()} with NetworkPolicy {namespace}/{name} ({what})",
            {"networkPolicy": {"name": name, "namespace": namespace}, "spec": spec, "keep": params.keep},
        )

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done:
        recorded = plan.changes["networkPolicy"]
        name, namespace = recorded["name"], recorded["namespace"]
        metadata: dict[str, Any] = {"name": name, "labels": dict(MANAGED), "annotations": {MADE_BY: ctx.key}}
        if not plan.changes.get("keep"):
            metadata["ownerReferences"] = [
                {
                    "apiVersion": API_VERSION,
                    "kind": "Remediation",
                    "name": ctx.remediation_name,
                    "uid": ctx.remediation_uid,
                }
            ]
        body = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": metadata}
        body["spec"] = plan.changes["spec"]
        try:
            ctx.clients.networking.create_namespaced_network_policy(namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            existing = ctx.clients.networking.read_namespaced_network_policy(name, namespace)
            if (existing.metadata.annotations or {}).get(MADE_BY) != ctx.key:
                raise ActionFailed(
                    f"NetworkPolicy {namespace}/{name} exists and was not made by this step", "NameTaken"
                ) from None
        return Done(f"NetworkPolicy {namespace}/{name} isolates the pods", {"created": True})


ACTION = Isolate()
