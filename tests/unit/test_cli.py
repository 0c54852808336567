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


# -- conventions of the commands that talk to a cluster ---------------------------------------


def kubeconfig(tmp_path: Path, current: str = "dev", server: str = "https://127.0.0.1:1") -> Path:
    """Two contexts on one (unreachable) server: dev with namespace team-a, prod with none."""
    import yaml

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [
            {"name": "dev", "context": {"cluster": "c", "user": "u", "namespace": "team-a"}},
            {"name": "prod", "context": {"cluster": "c", "user": "u"}},
        ],
        "current-context": current,
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_namespace_comes_from_the_kubeconfig_context(tmp_path: Path) -> None:
    from paramedic.cli.cluster import UserError, _context_namespace

    path = str(kubeconfig(tmp_path))
    assert _context_namespace(path, None) == "team-a"  # the current context's, as kubectl
    assert _context_namespace(path, "prod") == "default"  # a context without a namespace
    assert _context_namespace(str(kubeconfig(tmp_path, current="prod")), "dev") == "team-a"
    with pytest.raises(UserError, match="no context 'staging' in the kubeconfig"):
        _context_namespace(path, "staging")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["history", "--context", "staging"], "paramedic history: no context 'staging' in the kubeconfig"),
        (["history", "--kubeconfig", "{tmp}/missing"], "paramedic history: no usable kubeconfig: "),
        (["plan", "-f", "{tmp}/missing.yaml"], "paramedic plan: cannot read {tmp}/missing.yaml: "),
        (["plan", "-f", "{tmp}/kubeconfig"], "paramedic plan: {tmp}/kubeconfig holds no Remediation"),
        (["history"], "paramedic history: cannot reach the Kubernetes API server: "),
        (["approve", "rem-1"], "paramedic approve: cannot reach the Kubernetes API server: "),
        (["run", "--readiness", "0.0.0.0:8082/readyz"], "paramedic run: readiness endpoint must be http://"),
        (["run", "--webhook-advertise", "pod.example"], "paramedic run: the webhook's advertised address must"),
    ],
)
def test_user_errors_exit_2_with_one_line_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], message: str
) -> None:
    import subprocess
    import sys

    path = kubeconfig(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    env = {"KUBECONFIG": str(path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "paramedic", *argv], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("paramedic ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(message.replace("{tmp}", str(tmp_path))), result.stderr
    assert result.stdout == ""


def test_a_bad_flag_exits_2() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["history", "-o", "xml"])
    assert exited.value.code == 2


def test_shell_completion(tmp_path: Path) -> None:
    """The script each shell sources names the command, and the command answers a completion request."""
    import subprocess
    import sys

    for shell in ("bash", "zsh", "fish"):
        script = subprocess.run(
            [sys.executable, "-m", "paramedic", "completion", shell], capture_output=True, text=True, timeout=60
        )
        assert script.returncode == 0, script.stderr
        assert "paramedic" in script.stdout
    answers = tmp_path / "answers"
    for line, expected in (("paramedic hi", {"history"}), ("paramedic history -o ", {"table", "json", "yaml"})):
        env = {
            "PATH": "/usr/bin:/bin",
            "_ARGCOMPLETE": "1",
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
            "_ARGCOMPLETE_STDOUT_FILENAME": str(answers),
        }
        done = subprocess.run([sys.executable, "-m", "paramedic"], env=env, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert set(answers.read_text().split()) == expected
