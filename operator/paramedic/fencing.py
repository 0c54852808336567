"""Fencing: a replica writes to the world only while its leadership permit holds.

The permit is the rule client-go's leader election keeps, made checkable at
the last moment before each write: a replica may act only while
``monotonic_now - start_of_last_successful_renew < renew_deadline``. The
renew's *start* is used, not its end, because the API server may have
stamped the Lease at any instant of the request.

Why that fences: a standby takes the Lease only after it has watched the
same Lease record, unchanged, for the whole ``lease_duration`` on its own
monotonic clock (see ``paramedic.leader``); it can first have seen that
record only after the renew that wrote it started. So the leader's permit
ends ``duration - deadline`` seconds before any standby can acquire, as long
as the two clocks run at nearly the same rate (no wall clocks are compared).
What it does not cover: a write already on the wire when the permit lapses
(a request sent a moment before can land after), and a clock that jumps
faster than real time by more than the margin.

Every acting path checks the permit: the operator's API client refuses any
write without it (``fence``), the engine checks it before an action's apply
(clouds are not reached through that client), and the triggers and drivers
ask it before they create or drive a Remediation. Each step's recorded
intent carries the ``epoch`` it was taken under, so a new leader can tell
the steps it inherited (see ``Context.inherited``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from paramedic.kube import ApiException

#: Writes that change nothing: reviews ask the API server a question (who am I, may I).
_QUESTIONS = ("selfsubjectreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews", "subjectaccessreviews")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def may_act(now: float, renewed_at: float | None, deadline: float) -> bool:
    """The permit rule: a renew that started less than ``deadline`` seconds ago."""
    return renewed_at is not None and now - renewed_at < deadline


def acquirable(now: float, observed_at: float, duration: float) -> bool:
    """A standby's rule: the Lease record it observed (first, at ``observed_at``) is unchanged for ``duration``."""
    return now - observed_at > duration


def check_timings(duration: float, deadline: float, retry: float) -> None:
    """Refuse settings under which the permit cannot fence (a deadline not shorter than the lease)."""
    if not 0 < deadline < duration:
        raise ValueError(f"the renew deadline ({deadline:g}s) must be shorter than the lease duration ({duration:g}s)")
    if not 0 < retry < deadline:
        raise ValueError(f"the retry period ({retry:g}s) must be shorter than the renew deadline ({deadline:g}s)")


class NotLeading(ApiException):  # type: ignore[misc]
    """A write refused because this replica's permit does not hold. A 503 to the code that made it: every
    caller already treats that as transient, and this replica exits (or never acts) soon after."""

    def __init__(self, what: str) -> None:
        super().__init__(status=503, reason=f"not the leader: {what} refused (leadership permit lapsed or not held)")


class Permit:
    """Whether this replica may act now, and under which leadership epoch.

    Written by the lease thread, read by the event loop and the worker threads: plain attribute reads
    and writes (atomic in CPython), no lock on the hot path.
    """

    def __init__(
        self, deadline: float | None, epoch: str | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        #: None: no election (a single replica always holds its permit).
        self.deadline = deadline
        self.clock = clock
        self._renewed_at: float | None = None
        self._revoked = False
        self._epoch = epoch
        self._lock = threading.Lock()

    @classmethod
    def always(cls, epoch: str) -> Permit:
        return cls(None, epoch)

    @property
    def epoch(self) -> str | None:
        """``holder#leaseTransitions`` of the leadership held; the process identity without election."""
        return self._epoch

    def renewed(self, started_at: float, epoch: str) -> None:
        """A renew that started at ``started_at`` (monotonic) succeeded."""
        with self._lock:
            if not self._revoked:
                self._renewed_at, self._epoch = started_at, epoch

    def revoke(self) -> None:
        """For good: a replica that lost its leadership never acts again (it exits)."""
        with self._lock:
            self._revoked = True
            self._renewed_at = None

    def valid(self) -> bool:
        if self._revoked:
            return False
        if self.deadline is None:
            return True
        return may_act(self.clock(), self._renewed_at, self.deadline)

    def check(self, what: str = "an action") -> None:
        if not self.valid():
            raise NotLeading(what)


_current = Permit.always("")


def install(permit: Permit) -> None:
    global _current
    _current = permit


def current() -> Permit:
    """The process's permit (one leadership per process)."""
    return _current


def fence(api_client: Any, permit: Callable[[], Permit] = current) -> None:
    """Refuse every write through ``api_client`` while the permit does not hold, right before it is sent."""
    rest = api_client.rest_client
    if getattr(rest, "_paramedic_fenced", False):
        return
    original = rest.request

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if method.upper() in _WRITES and not url.rstrip("/").endswith(_QUESTIONS):
            permit().check(f"{method.upper()} {url.split('?', 1)[0]}")
        return original(method, url, *args, **kwargs)

    rest.request = request
    rest._paramedic_fenced = True
