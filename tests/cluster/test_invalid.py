"""Objects the API server accepted but the operator cannot load become a Ready=False condition (reason
Invalid, the field named), one Event and one log line per generation, never a retry storm. To get such an
object past the API server, the test loosens the CRD's schema for a moment (as an object applied under an
older CRD would be) and puts it back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kubernetes import client

from paramedic.api.common import API_VERSION, GROUP, VERSION
from tests.cluster.test_budgets import crash_all, crash_runbook, decided
from tests.cluster.test_escalation import Receiver, secret
from tests.cluster.test_safety import policy
from tests.kit import Kit
from tests.waiting import wait_until

SPEC = "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties"


@contextmanager
def loosened(paramedic: Kit, plural: str, path: str, rule: str = "pattern") -> Iterator[None]:
    """The CRD without the ``rule`` (pattern, enum) at ``path`` (under its spec's properties), for the duration."""
    crds = client.ApiextensionsV1Api(paramedic.clients.api_client)
    name = f"{plural}.{GROUP}"
    pointer = f"{SPEC}/{path}/{rule}"
    original = crds.read_custom_resource_definition(name)
    node: Any = paramedic.clients.api_client.sanitize_for_serialization(original)
    for part in pointer.strip("/").split("/"):
        node = node[int(part)] if isinstance(node, list) else node[part]
    crds.patch_custom_resource_definition(name, [{"op": "remove", "path": pointer}])
    try:
        yield
    finally:
        crds.patch_custom_resource_definition(name, [{"op": "add", "path": pointer, "value": node}])


def create_when_accepted(create: Any) -> Any:
    """The API server takes a moment to use the new schema: try until it accepts."""

    def attempt() -> Any:
        try:
            return create() or True
        except client.ApiException as exc:
            if exc.status == 422:
                return None
            raise

    return wait_until(attempt, 30, "the loosened schema in use")


def ready(obj: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)


def said(paramedic: Kit, name: str) -> int:
    text = paramedic.operator.log.read_text(errors="replace")
    return sum(1 for line in text.splitlines() if f"/{name} (generation" in line and "is invalid" in line)


def test_a_runbook_the_model_rejects_is_marked_invalid_once_per_generation(paramedic: Kit) -> None:
    custom, ns = paramedic.clients.custom, paramedic.namespace
    spec = {
        "trigger": {"prometheus": {"query": "up == 0", "interval": "soon"}},
        "steps": [{"scale": {"by": 1}}],
    }
    with loosened(paramedic, "runbooks", "trigger/properties/prometheus/properties/interval"):
        name = create_when_accepted(lambda: paramedic.runbook(spec, name="odd-interval"))

    def get() -> dict[str, Any]:
        found: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, ns, "runbooks", name)
        return found

    condition = wait_until(lambda: (c := ready(get())) and c["reason"] == "Invalid" and c, 30, "Ready=False Invalid")
    assert condition["status"] == "False"
    assert condition["message"].startswith("spec.trigger.prometheus.interval: String should match pattern")
    assert get()["status"]["lastError"] == condition["message"]
    for i in range(3):  # events without a new generation: nothing is said again
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, ns, "runbooks", name, {"metadata": {"labels": {"n": str(i)}}}
        )
    # Fixed (a new generation): the operator says so; it handled the object's earlier events before this one.
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, ns, "runbooks", name, {"spec": {"trigger": {"prometheus": {"interval": "1m"}}}}
    )
    wait_until(lambda: (c := ready(get())) and c["reason"] != "Invalid", 30, "the runbook valid again")
    assert [e for e in paramedic.events("Runbook", name) if e.startswith("Invalid:")] == [
        f"Invalid: {condition['message']}"
    ]
    assert said(paramedic, name) == 1


def test_a_rate_limit_policy_the_model_rejects_fails_its_remediations_once_each(paramedic: Kit) -> None:
    custom, ns = paramedic.clients.custom, paramedic.namespace
    body = {"cooldown": "a while", "stormBreaker": {"enabled": False}}
    with loosened(paramedic, "ratelimitpolicies", "cooldown"):
        broken = create_when_accepted(lambda: policy(paramedic, "broken", body))
    paramedic.deploy("shaky", replicas=2)
    runbook = crash_runbook(paramedic, "shaky", broken)
    crash_all(paramedic, "shaky")
    found = decided(paramedic, runbook, 2)
    assert {(r["status"]["phase"]) for r in found} == {"Failed"}
    assert all("RateLimitPolicy" in r["status"]["message"] and "spec.cooldown" in r["status"]["message"] for r in found)
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, ns, "ratelimitpolicies", broken)
    condition = ready(obj)
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("False", "Invalid")
    assert condition["message"].startswith("spec.cooldown: String should match pattern")
    assert len([e for e in paramedic.events("RateLimitPolicy", broken) if e.startswith("Invalid:")]) == 1
    assert said(paramedic, broken) == 1

    # Fixed: the next Remediation under it is decided, and the policy says it is Ready.
    custom.patch_namespaced_custom_object(GROUP, VERSION, ns, "ratelimitpolicies", broken, {"spec": {"cooldown": "0s"}})
    paramedic.deploy("steady", replicas=1)
    again = crash_runbook(paramedic, "steady", broken)
    crash_all(paramedic, "steady")
    [rem] = decided(paramedic, again, 1)
    paramedic.wait_phase(rem["metadata"]["name"], "Succeeded")
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, ns, "ratelimitpolicies", broken)
    assert (ready(obj) or {}).get("reason") == "Valid"
    assert said(paramedic, broken) == 1


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    made = {"primary": Receiver(), "slack": Receiver()}
    yield made
    for receiver in made.values():
        receiver.close()


def test_an_escalation_policy_made_invalid_mid_escalation_waits_for_the_fix(
    paramedic: Kit, receivers: dict[str, Receiver]
) -> None:
    """The escalation has paged its first level; the policy is then edited into something the model rejects
    (under a loosened CRD): it is marked Invalid once, nobody is paged from it, and once it is fixed the
    escalation goes on to the next level."""
    custom, ns = paramedic.clients.custom, paramedic.namespace
    secret(paramedic, "primary", receivers["primary"].url + "/hooks/primary")
    secret(paramedic, "slack", receivers["slack"].url + "/services/T000/B000")
    levels = [
        {
            "name": "primary",
            "after": "0s",
            "channels": [{"name": "primary", "webhook": {"name": "primary", "key": "value"}}],
        },
        {
            "name": "secondary",
            "after": "20s",
            "channels": [{"name": "slack", "slack": {"name": "slack", "key": "value"}}],
        },
    ]
    body = {
        "apiVersion": API_VERSION,
        "kind": "EscalationPolicy",
        "metadata": {"name": "oncall"},
        "spec": {"levels": levels},
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "escalationpolicies", body)
    paramedic.deploy("checkout", replicas=1)
    runbook = paramedic.runbook({"escalationPolicyRef": {"name": "oncall"}, "steps": [{"rollback": {}}]})
    rem = paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"})
    paramedic.wait_phase(rem, "Failed")
    wait_until(lambda: receivers["primary"].received, 60, "the first level's page")

    with loosened(paramedic, "escalationpolicies", "repeatInterval"):
        create_when_accepted(
            lambda: custom.patch_namespaced_custom_object(
                GROUP, VERSION, ns, "escalationpolicies", "oncall", {"spec": {"repeatInterval": "often"}}
            )
        )

    def get() -> dict[str, Any]:
        found: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, ns, "escalationpolicies", "oncall")
        return found

    condition = wait_until(lambda: (c := ready(get())) and c["reason"] == "Invalid" and c, 60, "Ready=False Invalid")
    assert condition["message"].startswith("spec.repeatInterval: String should match pattern")
    assert receivers["slack"].received == []
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, ns, "escalationpolicies", "oncall", {"spec": {"repeatInterval": "1h"}}
    )
    wait_until(lambda: receivers["slack"].received, 90, "the second level's page, once fixed")
    wait_until(lambda: (c := ready(get())) and c["reason"] == "Valid", 30, "the policy valid again")
    assert len([e for e in paramedic.events("EscalationPolicy", "oncall") if e.startswith("Invalid:")]) == 1
    assert said(paramedic, "oncall") == 1


def test_a_remediation_the_model_rejects_fails_once_naming_the_field(paramedic: Kit) -> None:
    """The engine's side (engine.py): a Remediation the model rejects ends Failed (Invalid) with the
    field named, one Event, and is never tried again."""
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook({"steps": [{"scale": {"replicas": 2}}]}, name="plain")
    with loosened(paramedic, "remediations", "target/properties/kind", "enum"):
        rem = create_when_accepted(
            lambda: paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Gadget", "name": "api"})
        )
    status = paramedic.wait_phase(rem, "Failed")
    assert "target.kind" in status["message"]
    condition = ready({"status": status})
    assert condition is not None
    assert condition["reason"] == "Invalid"
    failed = wait_until(
        lambda: [e for e in paramedic.events("Remediation", rem) if e.startswith("Failed:")], 30, "the Event"
    )
    assert len(failed) == 1
    assert "target.kind" in failed[0]
