"""A standby's webhook forwards to the leader (paramedic.triggers.forward), over real loopback HTTP servers:
the leader's answer is relayed, the leader checks the token again, a bad request never leaves the standby,
and an unknown, unreachable, hung or non-acting leader is a 503 with Retry-After (Alertmanager retries)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from paramedic.triggers import alertmanager, forward

BATCH = {"version": "4", "status": "firing", "alerts": [{"status": "resolved", "labels": {"alertname": "Down"}}]}


def replica(acting: bool, token: str, leader: Callable[[], tuple[str, int] | None]) -> web.Application:
    dispatcher = SimpleNamespace(runbooks=lambda trigger: [], acting=lambda: acting)

    async def current() -> str:
        return token

    return alertmanager.application(dispatcher, current, leader=leader, me="standby-0")  # type: ignore[arg-type]


async def post(app: web.Application, body: bytes, token: str = "t") -> tuple[int, dict[str, Any], str | None]:
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/alertmanager", data=body, headers={"Authorization": f"Bearer {token}"})
        text = await response.read()
        parsed = json.loads(text) if response.content_type == "application/json" else {"raw": text.decode()}
        return response.status, parsed, response.headers.get("Retry-After")


def through_standby(
    leader_app: web.Application, body: bytes = json.dumps(BATCH).encode(), standby_token: str = "t"
) -> tuple[int, dict[str, Any], str | None]:
    async def scenario() -> tuple[int, dict[str, Any], str | None]:
        async with TestServer(leader_app, host="127.0.0.1") as leader:
            assert leader.port is not None
            port = leader.port
            return await post(replica(False, standby_token, lambda: ("127.0.0.1", port)), body)

    return asyncio.run(scenario())


def test_the_leaders_answer_is_relayed() -> None:
    status, body, _ = through_standby(replica(True, "t", lambda: None))
    assert status == 200, body
    assert body["alerts"] == 1
    assert body["resolvedIgnored"] == 1  # decided by the leader's webhook


def test_the_leader_checks_the_token_again() -> None:
    # The standby still holds the rotated-away token: the leader, which reads the Secret itself, refuses.
    status, body, _ = through_standby(replica(True, "new", lambda: None), standby_token="t")
    assert status == 401, body


def test_a_forwarded_request_is_never_forwarded_again() -> None:
    # The "leader" is a standby too (leadership moving): one hop, then a 503, never a loop.
    status, body, retry = through_standby(replica(False, "t", lambda: ("127.0.0.1", 9)))
    assert status == 503, body
    assert "forwarded to a replica that is not the leader" in body["error"]
    assert retry == str(forward.RETRY_AFTER)


def test_a_bad_request_is_refused_by_the_standby_and_never_forwarded() -> None:
    asked: list[int] = []

    def leader() -> tuple[str, int] | None:
        asked.append(1)
        return ("127.0.0.1", 9)

    for body, token, code in ((b"{nope", "t", 400), (b'{"version": "3"}', "t", 422), (b"{}", "wrong", 401)):
        assert asyncio.run(post(replica(False, "t", leader), body, token))[0] == code
    too_big = b" " * (alertmanager.MAX_PAYLOAD + 1)
    assert asyncio.run(post(replica(False, "t", leader), too_big))[0] == 413
    assert asked == []


@pytest.mark.parametrize("leader", [lambda: None, lambda: ("127.0.0.1", 9)], ids=["unknown", "unreachable"])
def test_no_reachable_leader_is_503_with_retry_after(leader: Callable[[], tuple[str, int] | None]) -> None:
    status, body, retry = asyncio.run(post(replica(False, "t", leader), json.dumps(BATCH).encode()))
    assert status == 503, body
    assert retry == str(forward.RETRY_AFTER)


def test_a_hung_leader_is_given_up_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forward, "TIMEOUT", 0.5)
    release = asyncio.Event()

    async def hang(_: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({})

    hung = web.Application()
    hung.router.add_post(alertmanager.PATH, hang)
    hung.on_shutdown.append(lambda _: _set(release))
    status, body, retry = through_standby(hung)
    assert status == 503, body
    assert "did not answer" in body["error"]
    assert retry == str(forward.RETRY_AFTER)


def _set(event: asyncio.Event) -> Awaitable[None]:
    event.set()
    return asyncio.sleep(0)


def test_the_forward_goes_to_the_webhook_path_of_an_ip_literal() -> None:
    assert forward.target_url(("10.0.0.7", 9095), alertmanager.PATH) == "http://10.0.0.7:9095/alertmanager"
    assert forward.target_url(("fd00::7", 9095), alertmanager.PATH) == "http://[fd00::7]:9095/alertmanager"
