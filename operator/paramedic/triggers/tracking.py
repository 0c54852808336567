"""What the trigger streams keep of pods, nodes and HPAs: the keys of failing objects, nothing else. Pure logic.

A healthy object leaves no trace in memory: its body is parsed, its symptoms
are read (none) and it is dropped. Only a change that matters is passed on:
an object that has symptoms, or one that had some and no longer has (healed,
deleted, or missing from a fresh listing). That keeps the operator's memory
proportional to the number of failures, not to the size of the cluster, and
keeps the event loop idle while 10,000 healthy pods churn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .symptoms import Symptom

#: (key, symptoms) for the dispatcher: an empty list says the object is healthy or gone.
Change = tuple[str, list[Symptom]]
#: The object's key and its symptoms, read from its body alone.
Projector = Callable[[Mapping[str, Any]], tuple[str, list[Symptom]]]


class Tracker:
    """Turns watch events and listings into the changes the dispatcher needs.

    Level-triggered: a listing is compared with what is known, so an object
    deleted while the watch was down is reported healed exactly once.
    """

    def __init__(self, project: Projector) -> None:
        self.project = project
        self.failing: set[str] = set()

    def event(self, type_: str | None, obj: Mapping[str, Any]) -> Change | None:
        """A watch event (ADDED, MODIFIED, DELETED) or a listed object (None)."""
        return self._step(type_, obj)[1]

    def _step(self, type_: str | None, obj: Mapping[str, Any]) -> tuple[str, Change | None]:
        key, found = self.project(obj)
        if type_ == "DELETED":
            found = []
        if found:
            self.failing.add(key)
            return key, (key, found)
        if key in self.failing:
            self.failing.discard(key)
            return key, (key, [])
        return key, None

    def listing(self, objects: Iterable[Mapping[str, Any]]) -> Iterator[Change]:
        """A full listing (all pages): every failure in it, then the healing of failures it no longer holds."""
        before, seen = set(self.failing), set()
        for obj in objects:
            key, change = self._step(None, obj)
            seen.add(key)
            if change is not None:
                yield change
        for key in sorted(before - seen):
            self.failing.discard(key)
            yield key, []
