"""The README's main job: the guided demo runs to its end on its own control plane."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_to_the_end() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "paramedic_dev", "demo", "--nodes", "3"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for line in (
        "trigger podCrashLoop fired",
        "trigger podOOMKilled fired",
        "trigger nodeNotReady fired",
        "Demo finished",
    ):
        assert line in out
    assert out.count("=> Succeeded") + out.count("=> Skipped") + out.count("=> RateLimited") == 4
    history = out[out.index("History:") :]
    assert "restart-apollo-router" in history
