"""Retrying a read-modify-write when the object changed in between (HTTP 409 Conflict).

Every write paramedic makes to a shared object carries the resourceVersion it
read, so that a concurrent writer (another replica, the engine, a person) is
never overwritten; the writer then reads again and decides again. This is the
one loop that does that, with one bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from kubernetes.client.exceptions import ApiException

T = TypeVar("T")

#: How many read-decide-write rounds before giving up: a conflict every round means heavy contention.
ATTEMPTS = 10


class Conflict(Exception):
    """The object changed since it was read (or the read is too old to decide on): read it again."""


def is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, Conflict) or (isinstance(exc, ApiException) and exc.status == 409)


def retry_on_conflict(attempt: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """``attempt()`` (which reads, decides and writes) until it ends without a conflict.

    The last conflict is raised when every round conflicted; any other error at once.
    """
    for remaining in range(attempts - 1, -1, -1):
        try:
            return attempt()
        except (Conflict, ApiException) as exc:
            if not is_conflict(exc) or remaining == 0:
                raise
    raise AssertionError("unreachable: attempts must be at least 1")
