"""The operator's resident memory and CPU time, sampled from /proc all run long."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable

_TICKS = os.sysconf("SC_CLK_TCK")


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


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process (all its threads), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15 of stat(5))
    except (OSError, ValueError, IndexError):
        return None


class RssSampler(threading.Thread):
    """Samples ``pid()``'s RSS and CPU time every ``every`` seconds until stopped: (time, bytes, cpu s)."""

    def __init__(self, pid: Callable[[], int | None], every: float = 0.2) -> None:
        super().__init__(name="bench-rss", daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int, float]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.every):
            pid = self.pid()
            rss, cpu = (rss_bytes(pid), cpu_seconds(pid)) if pid else (None, None)
            if rss is not None and cpu is not None:
                self.samples.append((time.time(), rss, cpu))

    def stop(self) -> None:
        self._halt.set()

    def peak(self) -> int:
        return max((v for _, v, _ in self.samples), default=0)

    def peak_between(self, start: float, end: float) -> int:
        return max((v for t, v, _ in self.samples if start <= t <= end), default=0)

    def median(self, start: float, end: float) -> int:
        values = [v for t, v, _ in self.samples if start <= t <= end]
        return int(statistics.median(values)) if values else 0

    def _last(self, moment: float) -> tuple[float, int, float] | None:
        before = [s for s in self.samples if s[0] <= moment]
        return before[-1] if before else None

    def at(self, moment: float) -> int:
        """RSS at the last sample taken at or before ``moment``."""
        last = self._last(moment)
        return last[1] if last else 0

    def cpu(self, start: float, end: float) -> float:
        """CPU seconds the process used between two moments (to the sampling period)."""
        first, last = self._last(start), self._last(end)
        if last is None:
            return 0.0
        return round(last[2] - (first[2] if first else 0.0), 2)
