"""Every runbook says whether its trigger is armed: Ready for every trigger kind, written once per
generation (not for PromQL triggers, whose Ready says whether the query evaluates: test_metric_triggers)."""

from __future__ import annotations

from typing import Any

import pytest

from paramedic.api.common import GROUP, VERSION
from tests.kit import Kit
from tests.waiting import wait_until

STEP = [{"rolloutRestart": {}}]


def read(paramedic: Kit, name: str) -> dict[str, Any]:
    found: dict[str, Any] = paramedic.clients.custom.get_namespaced_custom_object(
        GROUP, VERSION, paramedic.namespace, "runbooks", name
    )
    return found


def armed(paramedic: Kit, name: str) -> dict[str, Any] | None:
    obj = read(paramedic, name)
    ready = next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)
    if ready and ready["observedGeneration"] == obj["metadata"]["generation"] and ready["reason"] == "Armed":
        return obj
    return None


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ({"manual": {}}, "created by people"),
        ({"podCrashLoop": {}}, "the podCrashLoop trigger is watched"),
        ({"podOOMKilled": {}}, "the podOOMKilled trigger is watched"),
        ({"podPending": {}}, "the podPending trigger is watched"),
        ({"hpaAtMax": {}}, "the hpaAtMax trigger is watched"),
        ({"alertmanager": {"alertnames": ["X"]}}, "alerts from the webhook"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else "",
)
def test_every_trigger_kind_gets_ready_once(paramedic: Kit, trigger: dict[str, Any], message: str) -> None:
    name = paramedic.runbook({"trigger": trigger, "steps": STEP}, name="armed")
    obj = wait_until(lambda: armed(paramedic, name), 30, "Ready=True (Armed)")
    [ready] = obj["status"]["conditions"]
    assert ready["status"] == "True"
    assert message in ready["message"]
    version = obj["metadata"]["resourceVersion"]
    # Another runbook armed later: the operator has handled the first one's events since, and wrote nothing.
    other = paramedic.runbook({"trigger": {"manual": {}}, "steps": STEP}, name="later")
    wait_until(lambda: armed(paramedic, other), 30, "the later runbook armed")
    assert read(paramedic, name)["metadata"]["resourceVersion"] == version


def test_a_new_generation_is_armed_again_keeping_the_transition_time(paramedic: Kit) -> None:
    name = paramedic.runbook({"trigger": {"podCrashLoop": {}}, "steps": STEP}, name="edited")
    first = wait_until(lambda: armed(paramedic, name), 30, "Ready=True (Armed)")["status"]["conditions"][0]
    paramedic.clients.custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        paramedic.namespace,
        "runbooks",
        name,
        {"spec": {"trigger": {"podCrashLoop": {"minRestarts": 7}}}},
    )
    again = wait_until(
        lambda: (o := armed(paramedic, name)) and o["metadata"]["generation"] == 2 and o, 30, "armed at generation 2"
    )["status"]["conditions"][0]
    assert again["lastTransitionTime"] == first["lastTransitionTime"]  # still True: no transition


def test_a_cluster_runbook_watching_nodes_gets_ready(paramedic: Kit) -> None:
    spec = {"trigger": {"nodeNotReady": {}}, "target": {"kinds": ["Node"]}, "steps": [{"cordon": {}}]}
    name = paramedic.cluster_runbook(spec)
    try:

        def ready() -> dict[str, Any] | None:
            obj = paramedic.clients.custom.get_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", name)
            conditions = (obj.get("status") or {}).get("conditions") or []
            return next((c for c in conditions if c["type"] == "Ready" and c["reason"] == "Armed"), None)

        said = wait_until(ready, 30, "the ClusterRunbook's Ready=True (Armed)")
        assert said["message"] == "the nodeNotReady trigger is watched"
    finally:
        paramedic.clients.custom.delete_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", name)
