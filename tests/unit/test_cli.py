"""`paramedic lint`: offline validation naming file, document and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from paramedic.cli import main

GOOD = """\
apiVersion: paramedic.dev/v1alpha1
kind: Runbook
metadata: {name: ok}
spec:
  steps: [{rolloutRestart: {}}]
"""

BAD = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: not-ours}
---
apiVersion: paramedic.dev/v1alpha1
kind: Runbook
metadata: {name: two-actions}
spec:
  steps: [{rolloutRestart: {}, deletePod: {}}]
---
apiVersion: paramedic.dev/v1alpha1
kind: Runbook
metadata: {name: drains}
spec:
  steps: [{drain: {}}]
---
apiVersion: paramedic.dev/v1alpha1
kind: RateLimitPolicy
metadata: {name: typo}
spec:
  windows: [{max: 3, per: 10 minutes}]
"""


def test_lint_passes_good_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    assert main(["lint", str(tmp_path / "good.yaml")]) == 0
    assert "0 problems" in capsys.readouterr().out


def test_lint_names_file_document_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    assert main(["lint", str(path)]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3
    assert errors[0].startswith(f"{path}: document 1 (Runbook/two-actions): spec.steps[0]:")
    assert "exactly one action" in errors[0]
    assert "document 2 (Runbook/drains): spec.steps: node and cloud actions (cordon, " in errors[1]
    assert "document 3 (RateLimitPolicy/typo): spec.windows[0].per:" in errors[2]


def test_examples_lint_clean(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in (Path(__file__).resolve().parents[2] / "examples").rglob("*.yaml"))
    assert main(["lint", *files]) == 0


def test_json_logs_are_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import logging

    from paramedic import logs

    logs.setup(logging.INFO, json_format=True)
    logging.getLogger("paramedic.test").warning("storm breaker tripped for %s", "rb")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    entry = json.loads(line)
    assert entry["level"] == "warning"
    assert entry["message"] == "storm breaker tripped for rb"
    assert entry["time"].endswith("Z")
    logging.getLogger().handlers.clear()
