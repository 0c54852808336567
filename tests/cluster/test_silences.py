"""The Alertmanager silence held while a Remediation acts, against the real Alertmanager on loopback
(runbook spec.silence; paramedic.escalation.silences)."""

from __future__ import annotations

import contextlib
import datetime
import json
import urllib.error
import urllib.request
import uuid
from typing import Any

from tests.kit import Kit, gated_job
from tests.waiting import wait_until

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment"}


def am(alertmanager: Any, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        alertmanager.url + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw.strip() else None


def silence_in_alertmanager(alertmanager: Any, silence_id: str) -> dict[str, Any]:
    found: dict[str, Any] = am(alertmanager, "GET", f"/api/v2/silence/{silence_id}")
    return found


def held(paramedic: Kit, rem: str, **wanted: Any) -> dict[str, Any]:
    """The Remediation's silence status once it has ``wanted`` (e.g. state="Active")."""

    def reached() -> dict[str, Any] | None:
        silence = paramedic.status(rem).get("silence") or {}
        return silence if all(silence.get(k) == v for k, v in wanted.items()) else None

    return wait_until(reached, 60, f"{rem}'s silence to have {wanted}")


def open_gate(paramedic: Kit, gate: str) -> None:
    paramedic.clients.core.patch_node("kwok-node-0", {"metadata": {"labels": {gate: "open"}}})


def close_gate(paramedic: Kit, gate: str) -> None:
    paramedic.clients.core.patch_node("kwok-node-0", {"metadata": {"labels": {gate: None}}})


MATCHERS = [
    {"name": "alertname", "value": "Drill"},
    {"name": "severity", "value": "page|critical", "isRegex": True},
    {"name": "team", "value": "search", "isEqual": False},
]


def slow_runbook(paramedic: Kit, gate: str, ttl: str) -> str:
    """A runbook whose one step waits on a Job until the test opens ``gate``, silencing Drill alerts."""
    return paramedic.runbook(
        {
            "silence": {
                "matchers": MATCHERS,
                "ttl": ttl,
                "maxDuration": "10m",
                "comment": "drill",
            },
            "steps": [gated_job(gate)],
        }
    )


def test_the_silence_is_held_extended_and_expired_at_the_end(paramedic: Kit, alertmanager: Any) -> None:
    paramedic.deploy("api", replicas=1)
    gate = f"paramedic.dev/gate-{uuid.uuid4().hex[:6]}"
    rem = paramedic.remediation(slow_runbook(paramedic, gate, "6s"), {**DEPLOYMENT, "name": "api"})
    try:
        first = held(paramedic, rem, state="Active")
        live = silence_in_alertmanager(alertmanager, first["id"])
        assert live["status"]["state"] == "active"
        assert live["createdBy"] == "paramedic"
        # A namespaced Runbook silences its own namespace's alerts only.
        assert sorted((m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in live["matchers"]) == [
            ("alertname", "Drill", False, True),
            ("namespace", paramedic.namespace, False, True),
            ("severity", "page|critical", True, True),
            ("team", "search", False, False),
        ]
        assert first["matchers"] == [
            "alertname=Drill",
            "severity=~page|critical",
            "team!=search",
            f"namespace={paramedic.namespace}",
        ]
        assert live["comment"].startswith(f"drill ({paramedic.namespace}/{rem};")
        # Extended in place while the step waits: the same silence, a later end.
        extended = wait_until(
            lambda: (s := paramedic.status(rem)["silence"])["extensions"] >= 2 and s, 60, "two extensions"
        )
        assert extended["id"] == first["id"]
        later = silence_in_alertmanager(alertmanager, first["id"])
        assert later["status"]["state"] == "active"
        assert later["endsAt"] > live["endsAt"]
        assert paramedic.status(rem)["phase"] in ("Running", "Verifying")
        open_gate(paramedic, gate)
        paramedic.wait_phase(rem, "Succeeded", timeout=90)
    finally:
        close_gate(paramedic, gate)
    done = held(paramedic, rem, state="Expired")
    assert "the Remediation ended (Succeeded)" in done["message"]
    assert silence_in_alertmanager(alertmanager, first["id"])["status"]["state"] == "expired"
    events = paramedic.events("Remediation", rem)
    assert any("silenced until" in e for e in events), events


def test_a_killed_operator_resumes_the_same_silence_and_a_dead_one_lets_it_expire(
    paramedic: Kit, alertmanager: Any
) -> None:
    paramedic.deploy("api", replicas=1)
    gate = f"paramedic.dev/gate-{uuid.uuid4().hex[:6]}"
    rem = paramedic.remediation(slow_runbook(paramedic, gate, "40s"), {**DEPLOYMENT, "name": "api"})
    uid = paramedic.get(rem)["metadata"]["uid"]

    def active_silences() -> list[str]:
        found = am(alertmanager, "GET", "/api/v2/silences")
        return [x["id"] for x in found if f"uid={uid}" in x["comment"] and x["status"]["state"] == "active"]

    try:
        first = held(paramedic, rem, state="Active")
        # Killed and back: the new process extends the silence recorded in status, never a second one.
        paramedic.operator.kill()
        paramedic.operator.start_and_wait()
        live = silence_in_alertmanager(alertmanager, first["id"])
        left = datetime.datetime.fromisoformat(live["endsAt"].replace("Z", "+00:00")) - datetime.datetime.now(
            datetime.UTC
        )
        # Whether the new process had time to extend it before it lapsed (its daemon starts within seconds).
        still_held = live["status"]["state"] == "active" and left > datetime.timedelta(seconds=10)
        again = wait_until(
            lambda: (s := paramedic.status(rem)["silence"])["endsAt"] > first["endsAt"] and s, 90, "an extension"
        )
        if still_held:  # the usual case: the restart took well under the ttl
            assert again["id"] == first["id"]
        else:  # a slow restart: the silence had lapsed, Alertmanager cannot extend it and holds a new one
            assert silence_in_alertmanager(alertmanager, first["id"])["status"]["state"] == "expired"
        assert active_silences() == [again["id"]]

        # Killed for good: nobody extends it, Alertmanager ends it by itself after its ttl.
        paramedic.operator.kill()
        wait_until(lambda: not active_silences(), 120, "the silence to expire by itself")
        assert paramedic.status(rem)["phase"] in ("Running", "Verifying")
    finally:
        paramedic.operator.start_and_wait()
    open_gate(paramedic, gate)
    try:
        paramedic.wait_phase(rem, "Succeeded", timeout=90)
    finally:
        close_gate(paramedic, gate)
    held(paramedic, rem, state="Expired")


def test_alertmanager_down_never_blocks_the_fix(paramedic: Kit, alertmanager: Any) -> None:
    paramedic.deploy("api", replicas=1)
    gate = f"paramedic.dev/gate-{uuid.uuid4().hex[:6]}"
    runbook = paramedic.runbook(
        {
            "silence": {"matchers": [{"name": "alertname", "value": "Drill"}]},
            "steps": [{"scale": {"by": 1}}, gated_job(gate)],
        }
    )
    alertmanager.stop()
    try:
        rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "api"})
        silence = held(paramedic, rem, state="Pending")
        assert "cannot connect to http://127.0.0.1" in silence["error"]
        assert "id" not in silence
        wait_until(
            lambda: any("cannot connect" in e for e in paramedic.events("Remediation", rem)),
            30,
            "the SilenceFailed Event",
        )
        open_gate(paramedic, gate)
        paramedic.wait_phase(rem, "Succeeded", timeout=90)
        assert paramedic.deployment("api")["spec"]["replicas"] == 2
    finally:
        close_gate(paramedic, gate)
        alertmanager.start_and_wait()


def test_an_alert_started_fix_silences_that_alert_through_alertmanager(paramedic: Kit, alertmanager: Any) -> None:
    """The real Alertmanager fires the alert to the operator; the fix silences exactly it while it runs,
    and Alertmanager marks the alert suppressed by that silence."""
    paramedic.deploy("api", replicas=1)
    gate = f"paramedic.dev/gate-{uuid.uuid4().hex[:6]}"
    alertname = f"Drill{uuid.uuid4().hex[:6]}"
    runbook = paramedic.runbook(
        {
            "trigger": {"alertmanager": {"alertnames": [alertname]}},
            "target": {"kinds": ["Deployment"]},
            "silence": {"fromTrigger": True, "ttl": "30s"},
            "steps": [gated_job(gate)],
        }
    )
    wait_until(
        lambda: (
            (
                paramedic.clients.custom.get_namespaced_custom_object(
                    "paramedic.dev", "v1alpha1", paramedic.namespace, "runbooks", runbook
                ).get("status")
                or {}
            ).get("triggerKind")
            == "alertmanager"
        ),
        30,
        "the trigger to be armed",
    )
    labels = {"alertname": alertname, "namespace": paramedic.namespace, "deployment": "api", "severity": "page"}
    ends = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)
    am(alertmanager, "POST", "/api/v2/alerts", [{"labels": labels, "endsAt": ends.isoformat()}])
    try:
        found = wait_until(
            lambda: paramedic.clients.custom.list_namespaced_custom_object(
                "paramedic.dev",
                "v1alpha1",
                paramedic.namespace,
                "remediations",
                label_selector=f"paramedic.dev/runbook={runbook}",
            )["items"],
            60,
            "Alertmanager to fire the alert to the operator",
        )
        rem = found[0]["metadata"]["name"]
        silence = held(paramedic, rem, state="Active")
        assert sorted(silence["matchers"]) == sorted(f"{k}={v}" for k, v in labels.items())

        def suppressed() -> bool:
            alerts = am(alertmanager, "GET", f"/api/v2/alerts?filter=alertname%3D{alertname}")
            return any(silence["id"] in a["status"]["silencedBy"] for a in alerts)

        wait_until(suppressed, 30, "Alertmanager to suppress the alert with the silence")
        open_gate(paramedic, gate)
        paramedic.wait_phase(rem, "Succeeded", timeout=90)
        held(paramedic, rem, state="Expired")
    finally:
        close_gate(paramedic, gate)
        ended = datetime.datetime.now(datetime.UTC).isoformat()
        with contextlib.suppress(urllib.error.URLError):
            am(alertmanager, "POST", "/api/v2/alerts", [{"labels": labels, "endsAt": ended}])


def test_a_tenant_runbook_silences_only_alerts_of_its_own_namespace(
    tenant: Kit, paramedic: Kit, alertmanager: Any
) -> None:
    """A namespace user's Runbook asks to silence another namespace's alerts: the silence also carries
    namespace=<its namespace>, so Alertmanager suppresses the alert of the tenant's namespace only."""
    tenant.deploy("api", replicas=1)
    gate = f"paramedic.dev/gate-{uuid.uuid4().hex[:6]}"
    alertname = f"Drill{uuid.uuid4().hex[:6]}"
    runbook = tenant.runbook(
        {
            "silence": {
                "matchers": [
                    {"name": "alertname", "value": alertname},
                    {"name": "namespace", "value": ".+", "isRegex": True},  # every namespace, it asks
                ]
            },
            "steps": [gated_job(gate)],
        }
    )
    rem = tenant.remediation(runbook, {**DEPLOYMENT, "name": "api"})
    ends = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)).isoformat()
    alerts = [
        {"labels": {"alertname": alertname, "namespace": namespace}, "endsAt": ends}
        for namespace in (tenant.namespace, "kube-system")
    ]
    try:
        silence = held(tenant, rem, state="Active")
        am(alertmanager, "POST", "/api/v2/alerts", alerts)

        def states() -> dict[str, list[str]] | None:
            found = am(alertmanager, "GET", f"/api/v2/alerts?filter=alertname%3D{alertname}")
            seen = {a["labels"]["namespace"]: a["status"]["silencedBy"] for a in found}
            return seen if len(seen) == 2 else None

        seen = wait_until(
            lambda: (s := states()) and s[tenant.namespace] and s, 30, "the tenant's alert to be silenced"
        )
        assert seen[tenant.namespace] == [silence["id"]]
        assert seen["kube-system"] == []
    finally:
        open_gate(paramedic, gate)
        ended = datetime.datetime.now(datetime.UTC).isoformat()
        with contextlib.suppress(urllib.error.URLError):
            am(alertmanager, "POST", "/api/v2/alerts", [{**a, "endsAt": ended} for a in alerts])
    try:
        tenant.wait_phase(rem, "Succeeded", timeout=90)
    finally:
        close_gate(paramedic, gate)
