"""Go duration strings (``90s``, ``5m``, ``1h30m``), as Kubernetes and Prometheus write them.

Parsed by ``durationpy`` (installed with the kubernetes client, which uses it
for the same strings); the CRD's pattern has already narrowed what arrives
here to the units paramedic documents.
"""

from __future__ import annotations

import re
from datetime import timedelta

import durationpy

#: What the CRDs accept: one or more number-unit pairs in ms, s, m or h.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"


def parse_duration(text: str) -> timedelta:
    """The duration; ValueError for anything the CRD pattern refuses (``1d``, ``-5m``, ``""``)."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"{text!r} is not a duration like 90s, 5m or 1h30m")
    parsed: timedelta = durationpy.from_str(text)
    return parsed
