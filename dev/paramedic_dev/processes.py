"""Child processes that cannot outlive us.

Every component is started with PR_SET_PDEATHSIG, so the kernel kills it if
the Python process dies by any means (SIGKILL of pytest included); on an
orderly stop it gets SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Process:
    """One named component, its command line and its log file."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.env = env
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def start(self) -> None:
        if self.running:
            return
        with self.log.open("ab") as out:
            out.write(f"\n--- starting: {' '.join(self.argv)}\n".encode())
            self._popen = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(self.env or {})},
                preexec_fn=_die_with_parent,
            )

    def stop(self, grace: float = 10.0) -> None:
        popen, self._popen = self._popen, None
        if popen is None or popen.poll() is not None:
            return
        popen.terminate()
        try:
            popen.wait(grace)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()

    def kill(self) -> None:
        """Stop abruptly, as a crash would."""
        if self._popen is not None and self._popen.poll() is None:
            self._popen.kill()
            self._popen.wait()
        self._popen = None

    def check_alive(self) -> None:
        if self._popen is not None and self._popen.poll() is not None:
            raise ComponentFailed(self, f"exited with code {self._popen.returncode}")

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class ComponentFailed(RuntimeError):
    def __init__(self, process: Process, what: str) -> None:
        super().__init__(f"{process.name} {what}; log: {process.log}\n{process.tail()}")
        self.process = process


def wait_for(
    condition: Callable[[], object],
    timeout: float,
    what: str,
    processes: Sequence[Process] = (),
    every: float = 0.1,
) -> None:
    """Poll condition() until it is truthy; fail early when a component dies."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        for process in processes:
            process.check_alive()
        try:
            if condition():
                return
        except Exception as exc:  # the condition probes a server that may not be up yet
            last_error = exc
        time.sleep(every)
    detail = f" (last error: {last_error})" if last_error else ""
    logs = "".join(f"\n{p.name} log: {p.log}" for p in processes)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}{logs}")
