"""Paging that gets through: Retry-After parsing, the pace of re-send rounds, the level's severity."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from paramedic import outbound
from paramedic.api.policies import Channel, SecretKeyRef
from paramedic.escalation import channels
from paramedic.escalation.render import FIELDS, Incident
from paramedic.outbound import Egress
from tests.services import LoopbackServer

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert channels.retry_after("120") == 120.0
    assert channels.retry_after(" 3 ") == 3.0
    later = (NOW + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert channels.retry_after(later, now=NOW) == 90.0
    earlier = (NOW - timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert channels.retry_after(earlier, now=NOW) == 0.0
    assert channels.retry_after(None) is None
    assert channels.retry_after("") is None
    assert channels.retry_after("soon") is None
    assert channels.retry_after("-5") is None


@given(
    retries=st.integers(min_value=0, max_value=10_000),
    repeat=st.floats(min_value=1, max_value=86_400),
    asked=st.none() | st.floats(min_value=0, max_value=86_400),
    spread=st.floats(min_value=0.8, max_value=1.2),
)
def test_rounds_are_never_slower_than_the_repeat_nor_sooner_than_asked(
    retries: int, repeat: float, asked: float | None, spread: float
) -> None:
    pace = channels.next_round(retries, repeat, asked, spread)
    assert pace >= (asked or 0.0)
    assert pace <= max(min(channels.ROUND_MAX, repeat) * spread, asked or 0.0)
    assert pace > 0


def test_rounds_back_off_from_seconds_to_minutes() -> None:
    paces = [channels.next_round(n, 3600) for n in range(8)]
    assert paces[0] == channels.ROUND_FIRST
    assert paces == sorted(paces)
    assert paces[-1] == channels.ROUND_MAX


def incident() -> Incident:
    return Incident(fields={name: "x" for name in FIELDS}, links={}, steps=[], resolved=False)


def test_severity_is_the_levels() -> None:
    pd = Channel.model_validate({"name": "pd", "pagerduty": SecretKeyRef(name="k", key="v").model_dump()})
    _, body = channels.request(pd, "KEY", incident(), "uid", "primary", "warning")
    assert body["payload"]["severity"] == "warning"
    hook = Channel.model_validate({"name": "h", "webhook": {"name": "k", "key": "v"}})
    _, body = channels.request(hook, "http://x/y", incident(), "uid", "primary", "info")
    assert body["severity"] == "info"


class Answers(LoopbackServer):
    """Answers each POST from ``script`` (status, Retry-After or None), counting them."""

    def __init__(self, script: list[tuple[int, str | None]]) -> None:
        self.count = 0
        answers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                status, after = script[min(answers.count, len(script) - 1)]
                answers.count += 1
                self.send_response(status)
                if after is not None:
                    self.send_header("Retry-After", after)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)


def send(script: list[tuple[int, str | None]], **options: Any) -> tuple[channels.Delivery, int]:
    server = Answers(script)
    egress = Egress(timeout=5.0)

    async def go() -> channels.Delivery:
        async with outbound.session(egress) as session:
            return await channels.send(session, egress.admit(server.url, trusted=True), server.url, {}, **options)

    try:
        return asyncio.run(go()), server.count
    finally:
        server.close()


def test_a_retry_after_longer_than_the_round_is_handed_to_the_notifier() -> None:
    delivery, tries = send([(429, "120")], max_wait=30.0)
    assert (delivery.ok, delivery.attempts, delivery.retry_after, tries) == (False, 1, 120.0, 1)
    assert delivery.error == "HTTP 429 Too Many Requests"


def test_a_client_error_is_final_and_a_server_error_is_retried() -> None:
    delivery, tries = send([(404, None)], backoff=0.01)
    assert (delivery.ok, delivery.attempts, tries) == (False, 1, 1)
    delivery, tries = send([(503, None), (503, "0"), (200, None)], backoff=0.01)
    assert (delivery.ok, delivery.attempts, tries) == (True, 3, 3)
    delivery, tries = send([(500, None)], attempts=3, backoff=0.01)
    assert (delivery.ok, delivery.attempts, tries, delivery.retry_after) == (False, 3, 3, None)
