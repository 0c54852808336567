"""The freshest state of a Remediation, without a GET per pass.

The driver works from the body the watch delivers (Kopf keeps it current).
Right after the engine's own status write, the watch may not have delivered
it yet; the write's response is then the newer state. Every status write is
conditional on the resourceVersion it was based on, so "the watch still shows
that base version" means exactly "the watch lags behind our write", and the
response can stand in for it. After a conflict the newer state is unknown
here: it is read once, and remembered the same way.
"""

from __future__ import annotations

import threading
from typing import Any


class Newest:
    def __init__(self) -> None:
        #: uid -> (resourceVersion, body): whoever observes that version should use this body instead
        #: (None: a write based on it conflicted; read it).
        self._newer: dict[str, tuple[str, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def of(self, observed: dict[str, Any]) -> dict[str, Any] | None:
        """The body to work from when the watch shows ``observed``; None: unknown, read it."""
        meta = observed["metadata"]
        with self._lock:
            newer = self._newer.get(meta["uid"])
        if newer is not None and newer[0] == meta["resourceVersion"]:
            return newer[1]
        return observed

    def replaced(self, base: dict[str, Any], body: dict[str, Any] | None) -> None:
        """``body`` (None: unknown) supersedes ``base``: our write's response, or what a read returned."""
        meta = base["metadata"]
        with self._lock:
            self._newer[meta["uid"]] = (meta["resourceVersion"], body)

    def forget(self, observed: dict[str, Any]) -> None:
        with self._lock:
            self._newer.pop(observed["metadata"]["uid"], None)
