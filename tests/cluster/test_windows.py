"""Freeze windows as users write them: times with offsets, weekly hours in their own time zone, and the
API server refusing a bad one with the field named."""

from __future__ import annotations

import datetime
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from paramedic.api.common import GROUP, VERSION
from paramedic.kube import ApiException
from tests.cluster.test_escalation import shop_crash_loop
from tests.cluster.test_safety import policy
from tests.kit import Kit

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def offset_window() -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC)
    india, new_york = datetime.timezone(datetime.timedelta(hours=5, minutes=30)), ZoneInfo("America/New_York")
    return {
        "name": "offsets",
        "start": (now - datetime.timedelta(hours=1)).astimezone(india).isoformat(timespec="seconds"),
        "end": (now + datetime.timedelta(hours=1)).astimezone(new_york).isoformat(timespec="seconds"),
    }


def zoned_window() -> dict[str, Any]:
    """Now, +-1h on Sydney's wall clock: across midnight there when it is near midnight."""
    local = datetime.datetime.now(ZoneInfo("Australia/Sydney"))
    hhmm = lambda t: t.strftime("%H:%M")  # noqa: E731
    return {
        "name": "zoned",
        "days": DAYS,
        "from": hhmm(local - datetime.timedelta(hours=1)),
        "to": hhmm(local + datetime.timedelta(hours=1)),
        "timeZone": "Australia/Sydney",
    }


def cron_window() -> dict[str, Any]:
    """Started at the top of this hour on Sydney's wall clock, for two hours."""
    local = datetime.datetime.now(ZoneInfo("Australia/Sydney"))
    return {"name": "cron", "cron": f"0 {local.hour} * * *", "duration": "2h", "timeZone": "Australia/Sydney"}


@pytest.mark.parametrize("make", [offset_window, zoned_window, cron_window], ids=["offsets", "time-zone", "cron"])
def test_a_window_written_with_offsets_or_a_time_zone_freezes(paramedic: Kit, make: Any) -> None:
    """It used to make every automatic Remediation under the policy retry forever with an empty status."""
    window = make()
    rem = crash_under(paramedic, policy(paramedic, "frozen", {"freezeWindows": [window]}))
    assert rem["status"]["phase"] == "Skipped"
    assert f"freeze window '{window['name']}'" in rem["status"]["message"]
    assert paramedic.deployment("shop")["metadata"]["generation"] == 1


@pytest.mark.parametrize(
    ("window", "field", "message"),
    [
        (
            {"days": DAYS, "from": "00:00", "to": "24:00", "timeZone": "Mars/Olympus"},
            "timeZone",
            "not an IANA time zone",
        ),
        # Five fields of cron's characters (the API server's check), but hour 25: automation is not unfrozen.
        ({"cron": "0 25 * * *", "duration": "24h"}, "cron", "is not a cron expression"),
    ],
    ids=["zone", "cron"],
)
def test_a_window_the_operator_cannot_read_fails_the_remediation_naming_the_field(
    paramedic: Kit, window: dict[str, Any], field: str, message: str
) -> None:
    """The API server checks a zone's or an expression's shape only; the operator decides the rest, says so,
    and does not act."""
    rem = crash_under(paramedic, policy(paramedic, "martian", {"freezeWindows": [window]}))
    assert rem["status"]["phase"] == "Failed"
    assert f"spec.freezeWindows[0].{field}" in rem["status"]["message"]
    assert message in rem["status"]["message"]
    obj = paramedic.clients.custom.get_namespaced_custom_object(
        GROUP, VERSION, paramedic.namespace, "ratelimitpolicies", "martian"
    )
    [ready] = [c for c in obj["status"]["conditions"] if c["type"] == "Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "Invalid")
    assert paramedic.deployment("shop")["metadata"]["generation"] == 1


def crash_under(paramedic: Kit, rate_limit: str) -> dict[str, Any]:
    """The "shop" Deployment's pod crash-loops under a runbook with this policy; its one finished Remediation."""
    paramedic.deploy("shop", replicas=1)
    return shop_crash_loop(paramedic, rate_limit)


@pytest.mark.parametrize(
    ("window", "field"),
    [
        ({"days": ["Mon"], "from": "01:00", "to": "02:00", "timeZone": "Europe/Berlin; drop"}, "timeZone"),
        ({"start": "2026-11-27", "end": "2026-11-28"}, "start"),
        ({"cron": "0 22 * * 5 $(reboot)", "duration": "1h"}, "cron"),
        ({"cron": "0 22 * * 5", "duration": "0s"}, "duration"),
    ],
    ids=["zone", "not-a-date-time", "cron-shape", "empty-duration"],
)
def test_the_api_server_refuses_a_bad_window_naming_the_field(
    paramedic: Kit, window: dict[str, Any], field: str
) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RateLimitPolicy",
        "metadata": {"name": "bad"},
        "spec": {"freezeWindows": [window]},
    }
    with pytest.raises(ApiException) as caught:
        paramedic.clients.custom.create_namespaced_custom_object(
            GROUP, VERSION, paramedic.namespace, "ratelimitpolicies", body
        )
    assert caught.value.status == 422
    assert f"spec.freezeWindows[0].{field}" in json.loads(caught.value.body)["message"]
