"""RateLimitPolicy conditions on the real control plane: Frozen while a freeze window is in effect,
StormActive while the storm breaker trips, and no write at all to a policy whose conditions hold."""

from __future__ import annotations

import datetime
from typing import Any

from paramedic.api.common import GROUP, VERSION
from paramedic_dev import simulate
from tests.cluster.test_safety import all_finished, policy
from tests.cluster.test_triggers import pods
from tests.cluster.test_windows import cron_window
from tests.kit import Kit, fleet_crash
from tests.waiting import wait_until


def read(paramedic: Kit, name: str) -> dict[str, Any]:
    found: dict[str, Any] = paramedic.clients.custom.get_namespaced_custom_object(
        GROUP, VERSION, paramedic.namespace, "ratelimitpolicies", name
    )
    return found


def condition(paramedic: Kit, name: str, type_: str) -> dict[str, Any] | None:
    conditions = (read(paramedic, name).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == type_), None)


def said(paramedic: Kit, name: str, type_: str, status: str, timeout: float = 60) -> dict[str, Any]:
    """The policy's ``type_`` condition once it says ``status``, waited for."""
    found: dict[str, Any] = wait_until(
        lambda: (c := condition(paramedic, name, type_)) and c["status"] == status and c,
        timeout,
        f"{type_}={status} on RateLimitPolicy {name}",
    )
    return found


def freeze(minutes: int) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC)
    return {
        "name": "release",
        "start": (now - datetime.timedelta(hours=1)).isoformat(timespec="seconds"),
        "end": (now + datetime.timedelta(minutes=minutes)).isoformat(timespec="seconds"),
    }


def test_frozen_is_said_once_while_a_window_is_in_effect_and_healthy_policies_are_not_written(
    paramedic: Kit,
) -> None:
    healthy = policy(paramedic, "healthy", {})
    frozen = policy(paramedic, "frozen", {"freezeWindows": [freeze(60)]})
    frozen_said = said(paramedic, frozen, "Frozen", "True")
    assert frozen_said["reason"] == "FreezeWindow"
    assert "freeze window 'release' is in effect" in frozen_said["message"]
    versions = {name: read(paramedic, name)["metadata"]["resourceVersion"] for name in (healthy, frozen)}
    # A policy created after that write is said later: the looks in between saw the others and wrote nothing.
    later = policy(paramedic, "later", {"freezeWindows": [freeze(60)]})
    wait_until(lambda: condition(paramedic, later, "Frozen"), 60, "Frozen on the later policy")
    assert {name: read(paramedic, name)["metadata"]["resourceVersion"] for name in versions} == versions
    assert not (read(paramedic, healthy).get("status") or {}).get("conditions")


def test_frozen_ends_when_no_window_is_in_effect(paramedic: Kit) -> None:
    brief = policy(paramedic, "brief", {"freezeWindows": [freeze(60)]})
    said(paramedic, brief, "Frozen", "True")
    patch = {"spec": {"freezeWindows": []}}
    paramedic.clients.custom.patch_namespaced_custom_object(
        GROUP, VERSION, paramedic.namespace, "ratelimitpolicies", brief, patch
    )
    ended = said(paramedic, brief, "Frozen", "False")
    assert ended["reason"] == "NoFreezeWindow"


def test_storm_active_names_the_count_and_ends_after_its_window(paramedic: Kit) -> None:
    paramedic.deploy("fleet", replicas=4)
    stormy = policy(
        paramedic,
        "stormy",
        {"windows": [{"max": 10, "per": "1h"}], "cooldown": "0s", "stormBreaker": {"maxFailing": 1, "window": "20s"}},
    )
    runbook = fleet_crash(paramedic, stormy)
    for pod in pods(paramedic, "fleet"):
        simulate.make_crashloop(paramedic.clients.core, paramedic.namespace, pod.metadata.name, restarts=4)
    all_finished(paramedic, runbook, 4)
    active = said(paramedic, stormy, "StormActive", "True")
    assert active["reason"] == "StormBreakerTripped"
    assert "storm breaker:" in active["message"]
    assert "failing at once" in active["message"]
    assert "window 20s" in active["message"]
    over = said(paramedic, stormy, "StormActive", "False", timeout=90)  # once nothing tripped for 20s
    assert over["reason"] == "StormOver"


def test_a_recurring_window_in_effect_is_frozen_too(paramedic: Kit) -> None:
    window = cron_window()  # started at the top of this hour in Sydney, for two hours
    weekly = policy(paramedic, "recurring", {"freezeWindows": [window]})
    frozen_said = said(paramedic, weekly, "Frozen", "True")
    assert "freeze window 'cron' is in effect" in frozen_said["message"]
