"""The operator's resident memory, sampled from /proc all run long."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable


def rss_bytes(pid: int) -> int | None:
    """VmRSS of a live process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


class RssSampler(threading.Thread):
    """Samples ``pid()``'s RSS every ``every`` seconds until stopped: (time, bytes) pairs."""

    def __init__(self, pid: Callable[[], int | None], every: float = 0.2) -> None:
        super().__init__(name="bench-rss", daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.every):
            pid = self.pid()
            value = rss_bytes(pid) if pid else None
            if value is not None:
                self.samples.append((time.time(), value))

    def stop(self) -> None:
        self._halt.set()

    def peak(self) -> int:
        return max((v for _, v in self.samples), default=0)

    def median(self, start: float, end: float) -> int:
        values = [v for t, v in self.samples if start <= t <= end]
        return int(statistics.median(values)) if values else 0

    def at(self, moment: float) -> int:
        """The last sample taken at or before ``moment``."""
        before = [v for t, v in self.samples if t <= moment]
        return before[-1] if before else 0
