"""The rate-limit gate an automatic Remediation passes before it acts.

The budget lives in the cluster: each RateLimitPolicy's status holds a ledger
of the Remediations it let through. Admission appends to the ledger with a
resourceVersion precondition, so an operator restart or failover never resets
the budget and two replicas can never both spend its last unit. Admission is
idempotent: a Remediation already in the ledger is admitted again without
spending anything (the operator may die between admission and acting).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from paramedic.api.common import GROUP, VERSION, ObjectRef, parse_duration
from paramedic.api.policies import LedgerEntry, RateLimitPolicySpec, RateLimitPolicyStatus
from paramedic.api.remediation import TERMINAL_PHASES
from paramedic.kube import ApiException, Clients, now, parse_time

from .access import LoadedRunbook, Refused
from .ratelimit import Candidate, Decision, decide, prune
from .selectors import to_query

log = logging.getLogger(__name__)

DEFAULT_POLICY = "default"
PLURAL = "ratelimitpolicies"


class Gate:
    def __init__(self, clients: Clients, operator_namespace: str) -> None:
        self.clients = clients
        self.operator_namespace = operator_namespace

    def policy_location(self, runbook: LoadedRunbook, namespace: str) -> tuple[str, str]:
        ref = runbook.spec.rate_limit_policy_ref
        if ref is None:
            return self.operator_namespace, DEFAULT_POLICY
        return (namespace if not runbook.cluster_scoped else self.operator_namespace), ref.name

    def admit(self, remediation: dict[str, Any], runbook: LoadedRunbook, target: ObjectRef) -> Decision:
        meta = remediation["metadata"]
        candidate = Candidate(
            remediation=f"{meta['namespace']}/{meta['name']}",
            runbook=f"{runbook.kind}/{meta['namespace'] if not runbook.cluster_scoped else ''}/{runbook.name}",
            target=target.describe(),
            namespace=target.namespace or "",
        )
        where = self.policy_location(runbook, meta["namespace"])
        for _ in range(10):
            policy = self._policy(*where)
            spec = RateLimitPolicySpec.model_validate(policy.get("spec") or {})
            ledger = RateLimitPolicyStatus.model_validate(policy.get("status") or {}).ledger
            if any(e.remediation == candidate.remediation for e in ledger):
                return Decision(True, message="admitted before")
            moment = datetime.now(UTC)
            ledger = prune(spec, self._settle(ledger), moment)
            failing, targets = self._storm(runbook, target, spec, remediation)
            decision = decide(spec, ledger, candidate, moment, failing=failing, targets=targets)
            if decision.admitted:
                ledger.append(
                    LedgerEntry(
                        remediation=candidate.remediation,
                        runbook=candidate.runbook,
                        target=candidate.target,
                        namespace=candidate.namespace,
                        admitted_at=now(),
                    )
                )
            try:
                self._write(policy, ledger)
            except ApiException as exc:
                if exc.status == 409:
                    continue  # another admission spent budget meanwhile: decide again
                raise
            return decision
        raise Refused("RateLimitContention", "could not update the rate-limit ledger (too much contention)", "Failed")

    # -- cluster reads ---------------------------------------------------------------------

    def _policy(self, namespace: str, name: str) -> dict[str, Any]:
        custom = self.clients.custom
        try:
            found: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            return found
        except ApiException as exc:
            if exc.status != 404:
                raise
        if name != DEFAULT_POLICY:
            raise Refused("RateLimitPolicyNotFound", f"RateLimitPolicy {namespace}/{name} not found")
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "RateLimitPolicy",
            "metadata": {"name": DEFAULT_POLICY, "namespace": namespace},
            "spec": RateLimitPolicySpec().dump(),
        }
        try:
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
            log.info("created the default RateLimitPolicy %s/%s", namespace, DEFAULT_POLICY)
        except ApiException as exc:
            if exc.status != 409:
                raise
        created: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        return created

    def _settle(self, ledger: list[LedgerEntry]) -> list[LedgerEntry]:
        """Mark entries whose Remediation has ended (or is gone) as finished."""
        settled = []
        for entry in ledger:
            if entry.finished_at is None:
                namespace, name = entry.remediation.split("/", 1)
                try:
                    rem = self.clients.custom.get_namespaced_custom_object(
                        GROUP, VERSION, namespace, "remediations", name
                    )
                    status = rem.get("status") or {}
                    if status.get("phase") in TERMINAL_PHASES:
                        entry = entry.model_copy(update={"finished_at": status.get("finishedAt") or now()})
                except ApiException as exc:
                    if exc.status != 404:
                        raise
                    entry = entry.model_copy(update={"finished_at": now()})
            settled.append(entry)
        return settled

    def _storm(
        self, runbook: LoadedRunbook, target: ObjectRef, spec: RateLimitPolicySpec, remediation: dict[str, Any]
    ) -> tuple[int, int]:
        """(automatic Remediations of this runbook created within the window, targets in its scope)."""
        if not spec.storm_breaker.enabled:
            return 0, 0
        since = datetime.now(UTC) - parse_duration(spec.storm_breaker.window)
        namespace = remediation["metadata"]["namespace"]
        selector = f"paramedic.dev/runbook={runbook.name[:63]}"
        custom = self.clients.custom
        if runbook.cluster_scoped:
            items = custom.list_cluster_custom_object(GROUP, VERSION, "remediations", label_selector=selector)["items"]
        else:
            items = custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "remediations", label_selector=selector
            )["items"]
        failing = sum(
            1
            for r in items
            if (r.get("spec") or {}).get("trigger")
            and (r["spec"].get("runbookRef") or {}).get("name") == runbook.name
            and parse_time(r["metadata"]["creationTimestamp"]) >= since
        )
        return failing, self._targets(runbook, target)

    def _targets(self, runbook: LoadedRunbook, target: ObjectRef) -> int:
        labels = to_query(runbook.spec.target.selector.dump()) if runbook.spec.target.selector else ""
        core, apps = self.clients.core, self.clients.apps
        if target.kind == "Node":
            return len(core.list_node(label_selector=labels).items)
        listing = {
            "Pod": core.list_namespaced_pod,
            "Deployment": apps.list_namespaced_deployment,
            "StatefulSet": apps.list_namespaced_stateful_set,
            "DaemonSet": apps.list_namespaced_daemon_set,
            "HorizontalPodAutoscaler": self.clients.autoscaling.list_namespaced_horizontal_pod_autoscaler,
        }.get(target.kind)
        if listing is None or target.namespace is None:
            return 0
        return len(listing(target.namespace, label_selector=labels).items)

    def _write(self, policy: dict[str, Any], ledger: list[LedgerEntry]) -> None:
        meta = policy["metadata"]
        body = {
            "metadata": {"resourceVersion": meta["resourceVersion"]},
            "status": {"ledger": [e.dump() for e in ledger]},
        }
        self.clients.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, meta["namespace"], PLURAL, meta["name"], body
        )
