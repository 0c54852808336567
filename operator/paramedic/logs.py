"""Logging setup: readable lines for people, or one JSON object per line for log pipelines."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any


class JsonFormatter(logging.Formatter):
    """One JSON object per record. A record about a Kubernetes object (Kopf's per-object logger puts its
    reference in ``k8s_ref``; so may any ``extra``) names that object under ``object``: a log pipeline
    then finds every line about one Remediation without parsing the message."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        ref = getattr(record, "k8s_ref", None)
        if isinstance(ref, dict):
            named = {k: ref[k] for k in ("kind", "namespace", "name") if ref.get(k)}
            if named:
                entry["object"] = named
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup(level: int, json_format: bool) -> None:
    handler = logging.StreamHandler()
    if json_format:
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class QuietHandlers(logging.Filter):
    """Drops Kopf's "Handler 'x' succeeded." lines for the named handlers (they run per watched event).

    Kopf names a handler without an explicit id by its qualified name, e.g.
    ``register.<locals>.runbook_event``: the last dotted part is compared.
    """

    def __init__(self, handler_ids: tuple[str, ...]) -> None:
        super().__init__()
        names = "|".join(re.escape(handler_id) for handler_id in handler_ids)
        self.pattern = re.compile(rf"^Handler '(?:[^']*\.)?(?:{names})' succeeded\.$")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and self.pattern.match(record.msg))


def quiet_handlers(handler_ids: tuple[str, ...]) -> None:
    """Filter on Kopf's per-object logger (idempotent: one filter, however often it is called)."""
    logger = logging.getLogger("kopf.objects")
    logger.filters[:] = [f for f in logger.filters if not isinstance(f, QuietHandlers)]
    logger.addFilter(QuietHandlers(handler_ids))
