"""An EscalationPolicy's status: observedGeneration and Ready, which names the channels whose Secret is
missing, turns True once the Secret is created, and is not written again while nothing changes."""

from __future__ import annotations

import base64
from typing import Any

from kubernetes import client

from paramedic.api.common import API_VERSION, GROUP, VERSION
from tests.kit import Kit
from tests.waiting import wait_until


def escalation_policy(paramedic: Kit, name: str, secret: str) -> str:
    level = {"name": "primary", "channels": [{"name": "chat", "slack": {"name": secret, "key": "url"}}]}
    body = {
        "apiVersion": API_VERSION,
        "kind": "EscalationPolicy",
        "metadata": {"name": name},
        "spec": {"levels": [level]},
    }
    paramedic.clients.custom.create_namespaced_custom_object(
        GROUP, VERSION, paramedic.namespace, "escalationpolicies", body
    )
    return name


def read(paramedic: Kit, name: str) -> dict[str, Any]:
    found: dict[str, Any] = paramedic.clients.custom.get_namespaced_custom_object(
        GROUP, VERSION, paramedic.namespace, "escalationpolicies", name
    )
    return found


def ready(paramedic: Kit, name: str, status: str) -> dict[str, Any] | None:
    obj = read(paramedic, name)
    said = obj.get("status") or {}
    condition = next((c for c in said.get("conditions") or [] if c["type"] == "Ready"), None)
    if condition and condition["status"] == status and said.get("observedGeneration") == obj["metadata"]["generation"]:
        return obj
    return None


def test_ready_names_a_missing_secret_and_turns_true_once_it_exists(paramedic: Kit) -> None:
    name = escalation_policy(paramedic, "pages", "chat-webhook")
    missing = wait_until(lambda: ready(paramedic, name, "False"), 60, "Ready=False")["status"]["conditions"][0]
    assert missing["reason"] == "SecretMissing"
    assert "channel chat: Secret chat-webhook not found" in missing["message"]
    secret = client.V1Secret(
        metadata=client.V1ObjectMeta(name="chat-webhook"),
        data={"url": base64.b64encode(b"http://127.0.0.1:9/hook").decode()},
    )
    paramedic.clients.core.create_namespaced_secret(paramedic.namespace, secret)
    fixed = wait_until(lambda: ready(paramedic, name, "True"), 90, "Ready=True once the Secret exists")
    assert fixed["status"]["conditions"][0]["reason"] == "Valid"
    version = fixed["metadata"]["resourceVersion"]
    # A policy created later is checked by a later look, which wrote nothing to the first.
    later = escalation_policy(paramedic, "later", "chat-webhook")
    wait_until(lambda: ready(paramedic, later, "True"), 60, "the later policy Ready")
    assert read(paramedic, name)["metadata"]["resourceVersion"] == version
