"""The freshest state of a Remediation, without a GET per pass.

The driver works from the body the watch delivers. Right after the engine's
own status write, the watch may not have delivered it yet; the write's
response is then the newer state. Every status write is conditional on the
resourceVersion it was based on, so a version the engine has written over
(or seen conflict) is known to be superseded: while the watch still shows
one of those, the newest body known here stands in for it. After a conflict
the newest state is unknown here: it is read once, and remembered the same
way. Versions the watch shows that are not known superseded are newer than
anything known here (the watch delivers in order), and win.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any


@dataclasses.dataclass
class _Known:
    superseded: set[str]
    newest: dict[str, Any] | None  # None: a write conflicted; read it


class Newest:
    def __init__(self) -> None:
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()

    def of(self, observed: dict[str, Any]) -> dict[str, Any] | None:
        """The body to work from when the watch shows ``observed``; None: unknown, read it."""
        meta = observed["metadata"]
        with self._lock:
            known = self._known.get(meta["uid"])
        if known is not None and meta["resourceVersion"] in known.superseded:
            return known.newest
        return observed

    def replaced(self, base: dict[str, Any], body: dict[str, Any] | None) -> None:
        """``body`` (None: unknown) supersedes ``base``: our write's response, or what a read returned."""
        meta = base["metadata"]
        with self._lock:
            known = self._known.setdefault(meta["uid"], _Known(set(), None))
            known.superseded.add(meta["resourceVersion"])
            known.newest = body

    def forget(self, observed: dict[str, Any]) -> None:
        with self._lock:
            self._known.pop(observed["metadata"]["uid"], None)
