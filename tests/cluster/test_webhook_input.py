"""Hostile bodies against the running operator's Alertmanager webhook: every
one is a 4xx with a reason, none is a 500, and the operator logs no
traceback for a client's mistake."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paramedic_dev.install import OperatorProcess
from tests.cluster.test_metric_triggers import payload, webhook

ALERT = {"status": "firing", "labels": {"alertname": "X", "namespace": "n", "deployment": "d"}}

#: Bodies shaped like a payload with something wrong in them, and bytes that are not JSON at all.
WRONG_VALUES = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _shaped(field: str, value: Any) -> bytes:
    body: dict[str, Any] = {"version": "4", "status": "firing", "alerts": [dict(ALERT)]}
    if field.startswith("alert."):
        body["alerts"][0][field.removeprefix("alert.")] = value
    elif field.startswith("label."):
        body["alerts"][0]["labels"] = {"alertname": "X", field.removeprefix("label."): value}
    else:
        body[field] = value
    return json.dumps(body).encode()


BODIES = st.one_of(
    st.binary(max_size=512),
    st.builds(
        _shaped,
        st.sampled_from(["version", "status", "alerts", "alert.status", "alert.labels", "label.x"]),
        WRONG_VALUES,
    ),
)


def _log_since(operator: OperatorProcess, offset: int) -> str:
    return operator.log.read_bytes()[offset:].decode(errors="replace")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES)
def test_any_malformed_body_is_a_4xx(operator: OperatorProcess, webhook_port: int, body: bytes) -> None:
    code, answer = webhook(webhook_port, body)
    if code == 200:  # hypothesis found a body that is a valid payload after all: then it must be decided
        assert "matched" in answer
        return
    assert 400 <= code < 500, (code, answer, body[:200])
    assert answer.get("error"), answer


def test_the_known_attacks_are_refused_with_a_reason_and_no_traceback(
    operator: OperatorProcess, webhook_port: int
) -> None:
    offset = operator.log.stat().st_size
    attacks = {
        "deep nesting": (b"[" * 200_000 + b"]" * 200_000, 400),
        "duplicate keys": (b'{"version": "4", "version": "4", "status": "firing", "alerts": []}', 400),
        "huge number": (b'{"version": ' + b"9" * 50_000 + b"}", 400),
        "not UTF-8": (b'{"version": "\xff"}', 400),
        "wrong types": (payload({**ALERT, "labels": ["not", "a", "map"]}), 422),
        "oversize": (b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}', 413),
    }
    for what, (body, expected) in attacks.items():
        code, answer = webhook(webhook_port, body)
        assert code == expected, (what, code, answer)
    log = _log_since(operator, offset)
    assert "Traceback" not in log, log[-2000:]
    # And the webhook still works.
    assert webhook(webhook_port, payload(ALERT))[0] == 200
