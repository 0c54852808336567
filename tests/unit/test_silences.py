"""The pure rules of the silence held while a Remediation acts (paramedic.escalation.silences)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from paramedic.api.silence import SilenceMatcher, SilenceSpec, SilenceStatus
from paramedic.escalation import silences

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ALERT = {"kind": "alertmanager", "evidence": {"alertname": "X", "label.alertname": "ProductionDown", "label.env": "p"}}


def spec(**kw: object) -> SilenceSpec:
    return SilenceSpec.model_validate({"fromTrigger": True, **kw})


def test_a_silence_needs_something_to_match() -> None:
    with pytest.raises(ValidationError, match="fromTrigger: true or at least one matcher"):
        SilenceSpec.model_validate({})


def test_matchers_come_from_the_alert_and_the_declared_ones() -> None:
    declared = spec(matchers=[{"name": "env", "value": "prod"}])
    found = silences.matchers(declared, ALERT, "ClusterRunbook", "paintbox")
    # the declared matcher wins over the alert's label of the same name
    assert [silences.shown(m) for m in found] == ["env=prod", "alertname=ProductionDown"]


def test_a_namespaced_runbook_silences_only_its_own_namespace() -> None:
    declared = spec(fromTrigger=False, matchers=[{"name": "namespace", "value": "other"}])
    found = silences.matchers(declared, None, "Runbook", "paintbox")
    assert [silences.shown(m) for m in found] == ["namespace=other", "namespace=paintbox"]  # ANDed: matches nothing
    assert silences.matchers(spec(), ALERT, "Runbook", "paintbox")[-1] == SilenceMatcher(
        name="namespace", value="paintbox"
    )


def test_no_alert_and_no_matcher_silences_nothing() -> None:
    # never a silence of a whole namespace
    assert silences.matchers(spec(), {"kind": "podCrashLoop", "evidence": {}}, "Runbook", "paintbox") == []
    assert silences.matchers(spec(), None, "ClusterRunbook", "paintbox") == []


def active(started: datetime, ends: datetime) -> SilenceStatus:
    return SilenceStatus(state="Active", id="s1", started_at=started, ends_at=ends)


def test_the_lease() -> None:
    s = spec(ttl="60s", maxDuration="10m")
    assert silences.plan(s, "Pending", None, NOW).do == "wait"  # not acting yet
    created = silences.plan(s, "Running", None, NOW)
    assert (created.do, created.ends_at) == ("create", NOW + timedelta(seconds=60))
    assert silences.plan(s, "Running", active(NOW, NOW + timedelta(seconds=60)), NOW + timedelta(seconds=10)).do == (
        "wait"
    )
    extended = silences.plan(s, "Verifying", active(NOW, NOW + timedelta(seconds=60)), NOW + timedelta(seconds=31))
    assert (extended.do, extended.ends_at) == ("extend", NOW + timedelta(seconds=91))
    # capped by maxDuration, then expired
    late = silences.plan(
        s, "Running", active(NOW, NOW + timedelta(minutes=9, seconds=40)), NOW + timedelta(minutes=9, seconds=30)
    )
    assert (late.do, late.ends_at) == ("extend", NOW + timedelta(minutes=10))
    assert silences.plan(s, "Running", active(NOW, NOW + timedelta(minutes=10)), NOW + timedelta(minutes=10)).do == (
        "expire"
    )
    # the end of the Remediation expires it; an expired one is never created again
    assert silences.plan(s, "Succeeded", active(NOW, NOW + timedelta(seconds=60)), NOW).do == "expire"
    assert silences.plan(s, "Failed", SilenceStatus(state="Pending", error="down"), NOW).do == "done"
    assert silences.plan(s, "Running", SilenceStatus(state="Expired"), NOW).do == "done"


@given(
    ttl=st.integers(1, 3600),
    cap=st.integers(1, 7200),
    since=st.integers(0, 8000),
    left=st.integers(0, 3600),
)
def test_a_silence_never_outlives_its_cap(ttl: int, cap: int, since: int, left: int) -> None:
    s = spec(ttl=f"{ttl}s", maxDuration=f"{cap}s")
    now = NOW + timedelta(seconds=since)
    todo = silences.plan(s, "Running", active(NOW, now + timedelta(seconds=left)), now)
    if todo.ends_at is not None:
        assert todo.ends_at <= NOW + timedelta(seconds=cap)
        assert todo.ends_at > now
    assert silences.plan(s, "Running", None, now).ends_at <= now + timedelta(seconds=cap)  # type: ignore[operator]


def test_the_filter_runs_the_daemon_only_while_there_is_something_to_hold_or_release() -> None:
    with_silence = {"runbookSpec": {"silence": {"fromTrigger": True}}}
    assert not silences.wanted({"phase": "Running", "runbookSpec": {}})
    assert silences.wanted({**with_silence, "phase": "Running"})
    assert not silences.wanted({**with_silence, "phase": "AwaitingApproval"})
    assert silences.wanted({**with_silence, "phase": "Succeeded", "silence": {"state": "Active"}})
    assert not silences.wanted({**with_silence, "phase": "Succeeded", "silence": {"state": "Pending"}})
    assert not silences.wanted({**with_silence, "phase": "Running", "silence": {"state": "Expired"}})
