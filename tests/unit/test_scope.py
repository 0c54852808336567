"""The one namespace rule (policy.scope) that triggers and the engine both apply."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paramedic.api.runbook import ClusterRunbookSpec, RunbookSpec
from paramedic.policy.scope import refusal
from paramedic.triggers.matching import Entry, scope

OPERATOR = "paramedic-system"
LABELS = {"team-a": {"tier": "tenant", "team": "a"}, "team-b": {"tier": "tenant", "team": "b"}, OPERATOR: {}}
STEPS: list[dict[str, Any]] = [{"rolloutRestart": {}}]
TRIGGER = {"podCrashLoop": {}}


def cluster_spec(allowed: dict[str, str] | None = None, targets: dict[str, str] | None = None) -> ClusterRunbookSpec:
    spec: dict[str, Any] = {"trigger": TRIGGER, "steps": STEPS, "target": {}}
    if allowed is not None:
        spec["allowedNamespaces"] = {"matchLabels": allowed}
    if targets is not None:
        spec["target"]["namespaces"] = {"matchLabels": targets}
    return ClusterRunbookSpec.model_validate(spec)


def decide(spec: RunbookSpec, kind: str, target_ns: str | None, home: str) -> str | None:
    found = refusal(kind, "rb", spec, "Pod x", target_ns, home, OPERATOR, LABELS.get)
    return None if found is None else found[0]


def test_a_runbook_acts_only_in_its_own_namespace_and_never_on_nodes() -> None:
    spec = RunbookSpec.model_validate({"trigger": TRIGGER, "steps": STEPS})
    assert decide(spec, "Runbook", "team-a", "team-a") is None
    assert decide(spec, "Runbook", "team-b", "team-a") == "NamespaceNotAllowed"
    assert decide(spec, "Runbook", None, "team-a") == "ClusterRunbookRequired"


def test_a_clusterrunbook_from_a_tenant_needs_allowed_namespaces() -> None:
    assert decide(cluster_spec(), "ClusterRunbook", "team-a", "team-a") == "NamespaceNotAllowed"
    assert decide(cluster_spec(allowed={"tier": "tenant"}), "ClusterRunbook", "team-a", "team-a") is None
    # unset target.namespaces: a tenant's Remediation acts only in its own namespace
    assert decide(cluster_spec(allowed={"tier": "tenant"}), "ClusterRunbook", "team-b", "team-a") is not None
    # target.namespaces admits another namespace explicitly
    spec = cluster_spec(allowed={"tier": "tenant"}, targets={"team": "b"})
    assert decide(spec, "ClusterRunbook", "team-b", "team-a") is None


def test_nodes_only_from_the_operator_namespace() -> None:
    assert decide(cluster_spec(), "ClusterRunbook", None, OPERATOR) is None
    assert decide(cluster_spec(allowed={"tier": "tenant"}), "ClusterRunbook", None, "team-a") == "NamespaceNotAllowed"


def test_an_unknown_namespace_is_admitted_by_no_selector() -> None:
    assert decide(cluster_spec(allowed={}), "ClusterRunbook", "gone", "gone") == "NamespaceNotAllowed"


namespaces = st.sampled_from([None, "team-a", "team-b", OPERATOR, "gone"])
selectors = st.sampled_from([None, {}, {"tier": "tenant"}, {"team": "b"}])


@settings(deadline=None)  # the machine is shared and noisy: no timing in tests
@given(namespaces, selectors, selectors)
def test_where_a_trigger_puts_a_remediation_the_engine_admits(
    namespace: str | None, allowed: dict[str, str] | None, targets: dict[str, str] | None
) -> None:
    """The trigger's answer (matching.scope) and the engine's check (access.authorize) never disagree:
    a Remediation created where the trigger says passes the engine's check, and none is created where
    the runbook may not act."""
    spec = cluster_spec(allowed, targets)
    entry = Entry("ClusterRunbook", "rb", None, spec)
    home = scope(entry, namespace, LABELS.get, OPERATOR)
    if home is None:
        assert namespace is not None  # a node's Remediation always has a home: the operator's namespace
        assert namespace == "gone" or decide(spec, "ClusterRunbook", namespace, namespace) is not None
    else:
        assert decide(spec, "ClusterRunbook", namespace, home) is None
        assert home == (OPERATOR if namespace is None else namespace)


@pytest.mark.parametrize("namespace", ["team-a", "team-b", None])
def test_a_runbook_entry_scopes_to_its_namespace(namespace: str | None) -> None:
    spec = RunbookSpec.model_validate({"trigger": TRIGGER, "steps": STEPS})
    home = scope(Entry("Runbook", "rb", "team-a", spec), namespace, LABELS.get, OPERATOR)
    assert home == ("team-a" if namespace == "team-a" else None)
