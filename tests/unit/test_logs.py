"""JSON log lines name the Kubernetes object a record is about, as Kopf's per-object logger carries it."""

from __future__ import annotations

import json
import logging

import kopf

from paramedic.logs import JsonFormatter


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def formatted(log: logging.Logger | logging.LoggerAdapter[logging.Logger], message: str) -> dict[str, object]:
    capture = Capture()
    logger = log.logger if isinstance(log, logging.LoggerAdapter) else log
    logger.addHandler(capture)
    try:
        log.warning(message)
    finally:
        logger.removeHandler(capture)
    [record] = capture.records
    entry: dict[str, object] = json.loads(JsonFormatter().format(record))
    return entry


def test_a_kopf_object_logger_line_names_its_object() -> None:
    body = kopf.Body(
        {
            "apiVersion": "paramedic.dev/v1alpha1",
            "kind": "Remediation",
            "metadata": {"name": "rem-1", "namespace": "shop", "uid": "u1"},
        }
    )
    entry = formatted(kopf.ObjectLogger(body=body, settings=kopf.OperatorSettings()), "escalating")
    assert entry["message"] == "escalating"
    assert entry["object"] == {"kind": "Remediation", "namespace": "shop", "name": "rem-1"}


def test_a_cluster_scoped_object_has_no_namespace_and_a_plain_line_no_object() -> None:
    body = kopf.Body({"apiVersion": "paramedic.dev/v1alpha1", "kind": "ClusterRunbook", "metadata": {"name": "c"}})
    entry = formatted(kopf.ObjectLogger(body=body, settings=kopf.OperatorSettings()), "armed")
    assert entry["object"] == {"kind": "ClusterRunbook", "name": "c"}
    assert "object" not in formatted(logging.getLogger("paramedic.test.logs"), "plain")
