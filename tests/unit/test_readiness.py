"""Readiness means serving (Kopf started, indexes filled), not leading; the endpoint URL is checked at start;
the leader's recorded webhook address is read strictly (a standby forwards only to an IP and a port)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paramedic import leader, readiness


def test_ready_once_started_and_warm_whoever_leads() -> None:
    assert readiness.answer(started=False, warm=False)[0] == 503
    assert readiness.answer(started=True, warm=False)[0] == 503  # indexes still filling: alerts not decidable
    assert readiness.answer(started=False, warm=True)[0] == 503
    assert readiness.answer(started=True, warm=True)[0] == 200


def test_endpoint_url() -> None:
    assert readiness.parse("http://0.0.0.0:8082/readyz") == ("0.0.0.0", 8082, "/readyz")
    assert readiness.parse("http://127.0.0.1:9/") == ("127.0.0.1", 9, "/")
    for wrong in ("0.0.0.0:8082/readyz", "https://0.0.0.0:8082/readyz", "http://0.0.0.0/readyz"):
        with pytest.raises(ValueError, match="readiness endpoint must be"):
            readiness.parse(wrong)


def test_the_recorded_address_round_trips() -> None:
    assert leader.webhook_address("10.244.1.7", 9095) == "10.244.1.7:9095"
    assert leader.webhook_address("fd00::7", 9095) == "[fd00::7]:9095"
    assert leader.parse_address("10.244.1.7:9095") == ("10.244.1.7", 9095)
    assert leader.parse_address("[fd00::7]:9095") == ("fd00::7", 9095)
    with pytest.raises(ValueError, match="must be an IP"):
        leader.webhook_address("paramedic.example", 9095)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "10.0.0.1",  # no port
        "evil.example:80",  # a name: DNS could send it anywhere
        "http://10.0.0.1:80",  # a scheme
        "10.0.0.1:80/admin",  # a path
        "user@10.0.0.1:80",  # credentials
        "10.0.0.1:0",
        "10.0.0.1:70000",
        "0.0.0.0:9095",  # unspecified
        "[fd00::7:9095",
        "[fe80::1%eth0]:9095",  # a zone
    ],
)
def test_a_standby_forwards_only_to_an_ip_and_a_port(value: str) -> None:
    assert leader.parse_address(value) is None


@given(st.text(max_size=40))
def test_parse_address_never_raises_and_yields_an_ip(value: str) -> None:
    parsed = leader.parse_address(value)
    if parsed is not None:
        host, port = parsed
        assert leader.parse_address(leader.webhook_address(host, port)) == parsed
