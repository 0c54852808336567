"""The leadership permit (paramedic.fencing): its rule, the timings it needs, and the write fence."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paramedic import fencing
from paramedic.engine.driver import Parked
from paramedic.operator import Config


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@given(
    duration=st.integers(min_value=2, max_value=60),
    share=st.floats(min_value=0.05, max_value=0.95),
    renews=st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=30.0), st.floats(min_value=0.0, max_value=5.0)),
        min_size=1,
        max_size=20,
    ),
    seen_after=st.floats(min_value=0.0, max_value=5.0),
    drift=st.floats(min_value=0.0, max_value=1.0),
)
def test_a_leader_stops_acting_before_any_standby_may_acquire(
    duration: int, share: float, renews: list[tuple[float, float]], seen_after: float, drift: float
) -> None:
    """Whatever the renews' timing (each starts, lands on the server some time later), the last instant the
    leader may act comes before the first instant a standby may take the Lease, when the clocks' rates
    differ by less than the margin the deadline leaves."""
    deadline = duration * share
    margin = (duration - deadline) / duration
    standby_rate = 1.0 + drift * margin * 0.99  # the standby's clock may run faster, within the margin
    leader_clock, standby_clock = Clock(), Clock()
    permit = fencing.Permit(deadline, clock=leader_clock)
    start, landed = 0.0, 0.0
    for gap, latency in renews:
        start += gap
        landed = start + latency  # the API server stamps the record somewhere in the request
        permit.renewed(start, "leader#1")
    seen = landed + seen_after  # a standby sees the last record only after it landed (real time)

    def at(real: float) -> tuple[bool, bool]:
        leader_clock.now, standby_clock.now = real, real * standby_rate
        return permit.valid(), fencing.acquirable(standby_clock.now, seen * standby_rate, duration)

    first_acquire = seen + duration / standby_rate
    assert at(start) == (True, False)
    assert not at(first_acquire)[0]
    assert at(first_acquire + 1e-6 * duration) == (False, True)
    # Between the two instants, nobody acts: the margin.
    assert at(start + deadline + 1e-9) == (False, False)


def test_a_permit_holds_for_the_deadline_after_the_renew_started_and_never_after_revocation() -> None:
    clock = Clock(100.0)
    permit = fencing.Permit(10.0, clock=clock)
    assert not permit.valid()  # never renewed: a standby
    permit.renewed(95.0, "a#1")
    assert permit.valid()
    assert permit.epoch == "a#1"
    clock.now = 104.9
    assert permit.valid()
    clock.now = 105.0
    assert not permit.valid()
    with pytest.raises(fencing.NotLeading) as refused:
        permit.check("scale of r")
    assert refused.value.status == 503
    assert "scale of r" in refused.value.reason
    permit.renewed(105.0, "a#1")
    assert permit.valid()
    permit.revoke()
    permit.renewed(105.0, "a#1")  # a late renew after losing: still no permit
    assert not permit.valid()


def test_without_election_the_permit_always_holds() -> None:
    permit = fencing.Permit.always("host/1234")
    assert permit.valid()
    assert permit.epoch == "host/1234"
    permit.check()


@pytest.mark.parametrize(
    ("duration", "deadline", "retry", "ok"),
    [(15, None, None, True), (15, 10, 2, True), (15, 15, 2, False), (15, 20, 2, False), (4, 3.9, 0.5, True),
     (4.5, 4.2, 1, False), (15, 10, 10, False)],
)  # fmt: skip
def test_the_renew_deadline_must_be_shorter_than_the_lease(
    duration: float, deadline: float | None, retry: float | None, ok: bool
) -> None:
    config = Config(leader_elect=True, lease_duration=duration, renew_deadline=deadline, retry_period=retry)
    if ok:
        got = config.lease_timings()
        assert got[1] < int(duration)
        assert 0 < got[2] < got[1]
    else:
        with pytest.raises(ValueError, match="must be shorter"):
            config.lease_timings()


def test_client_go_defaults() -> None:
    assert Config(lease_duration=15).lease_timings() == (15, 10, 2)


class FakeRest:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> str:
        self.sent.append((method, url))
        return "ok"


def test_the_fence_refuses_writes_without_the_permit_and_lets_reads_and_questions_through() -> None:
    clock = Clock(0.0)
    permit = fencing.Permit(2.0, clock=clock)
    rest = FakeRest()
    api_client = SimpleNamespace(rest_client=rest)
    fencing.fence(api_client, lambda: permit)
    fencing.fence(api_client, lambda: permit)  # idempotent: one check per request
    base = "https://api/apis/paramedic.dev/v1/namespaces/a/remediations"
    assert rest.request("GET", base) == "ok"
    assert rest.request("POST", "https://api/apis/authentication.k8s.io/v1/selfsubjectreviews") == "ok"
    assert rest.request("POST", "https://api/apis/authorization.k8s.io/v1/subjectaccessreviews/") == "ok"
    for method in ("POST", "PUT", "PATCH", "DELETE", "patch"):
        with pytest.raises(fencing.NotLeading):
            rest.request(method, f"{base}/r1/status?fieldManager=x")
    permit.renewed(0.0, "me#3")
    assert rest.request("PATCH", f"{base}/r1/status") == "ok"
    clock.now = 2.0
    with pytest.raises(fencing.NotLeading):
        rest.request("PATCH", f"{base}/r1/status")
    assert [m for m, _ in rest.sent] == ["GET", "POST", "POST", "PATCH"]


def _rem(uid: str, phase: str | None = None) -> dict[str, Any]:
    return {"metadata": {"uid": uid, "name": uid, "namespace": "a"}, "status": {"phase": phase} if phase else {}}


def test_a_standby_parks_the_latest_body_of_each_open_remediation() -> None:
    parked = Parked()
    parked.observe(None, _rem("a"))
    parked.observe("MODIFIED", _rem("a", "Running"))
    parked.observe(None, _rem("b"))
    parked.observe("MODIFIED", _rem("b", "Succeeded"))  # finished: nothing to take over
    parked.observe(None, _rem("c"))
    parked.observe("DELETED", _rem("c"))
    parked.observe(None, _rem("d"))
    parked.discard("d")  # the driver got a newer event already
    assert len(parked) == 1
    assert [b["status"] for b in parked.drain()] == [{"phase": "Running"}]
    assert parked.drain() == []


def test_a_standby_answers_the_webhook_with_503_so_alertmanager_retries() -> None:
    """Matching is not even tried on a standby: it decides nothing, and a 503 is what Alertmanager retries."""
    import asyncio

    from aiohttp.test_utils import TestClient, TestServer

    from paramedic.triggers import alertmanager

    leading = {"now": False}
    asked: list[str] = []

    def runbooks(trigger: str) -> list[Any]:
        asked.append(trigger)
        return []

    dispatcher = SimpleNamespace(runbooks=runbooks, acting=lambda: leading["now"])

    async def token() -> str:
        return "t"

    async def post() -> tuple[int, Any]:
        app = alertmanager.application(dispatcher, token)  # type: ignore[arg-type]
        async with TestClient(TestServer(app)) as client:
            response = await client.post(
                "/alertmanager",
                json={"version": "4", "status": "firing", "alerts": []},
                headers={"Authorization": "Bearer t"},
            )
            return response.status, await response.json()

    status, body = asyncio.run(post())
    assert status == 503
    assert "standby" in body["error"]
    assert asked == []
    leading["now"] = True
    status, _ = asyncio.run(post())
    assert status == 200
    assert asked == ["alertmanager"]
