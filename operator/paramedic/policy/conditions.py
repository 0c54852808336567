"""A RateLimitPolicy's own conditions, as they should read now: ``Frozen`` and ``StormActive``. Pure logic.

``Frozen`` is True while a freeze window is in effect; ``StormActive`` while the storm breaker has refused a
Remediation within the breaker's ``window``. An absent condition means False: a healthy policy is never
written to (the conditions appear the first time either is True, and are set False when it ends). Only a
transition changes anything: a storm that keeps tripping, or a freeze that goes on, keeps its message and its
``lastTransitionTime``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from paramedic.api.common import Condition, parse_duration, rfc3339
from paramedic.api.policies import RateLimitPolicySpec
from paramedic.records.status import set_condition

from .ratelimit import frozen

FROZEN = "Frozen"
STORM = "StormActive"


@dataclasses.dataclass(frozen=True)
class Trip:
    """The storm breaker refused a Remediation: when, and the decision's message (counts and scope)."""

    at: datetime
    message: str


def _find(conditions: list[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def _storm(spec: RateLimitPolicySpec, old: Condition | None, trip: Trip | None, now: datetime) -> tuple[bool, str]:
    window = parse_duration(spec.storm_breaker.window)
    if trip is not None and now - trip.at < window and spec.storm_breaker.enabled:
        return True, f"{trip.message} (tripped at {rfc3339(trip.at)}; window {spec.storm_breaker.window})"
    if trip is None and old is not None and old.status == "True" and now - old.last_transition_time < window:
        # Said before a restart, and this process has not seen it trip since: it holds for its window.
        return True, old.message
    return False, f"no Remediation refused by the storm breaker within {spec.storm_breaker.window}"


def desired(
    spec: RateLimitPolicySpec,
    conditions: list[Condition],
    now: datetime,
    trip: Trip | None,
    generation: int | None,
) -> list[Condition] | None:
    """The conditions the policy should carry now, or None when the ones it carries already say so."""
    window = frozen(spec.freeze_windows, now)
    named = f" {window.name!r}" if window is not None and window.name else ""
    storm, storm_message = _storm(spec, _find(conditions, STORM), trip, now)
    wanted = {
        FROZEN: (
            window is not None,
            "FreezeWindow" if window is not None else "NoFreezeWindow",
            f"freeze window{named} is in effect: no automatic actions" if window else "no freeze window is in effect",
        ),
        STORM: (storm, "StormBreakerTripped" if storm else "StormOver", storm_message),
    }
    result, changed = list(conditions), False
    for type_, (status, reason, message) in wanted.items():
        old = _find(result, type_)
        now_true = old is not None and old.status == "True"
        if status == now_true:
            continue  # no transition: absent or False stays unwritten, True keeps its message and time
        result = set_condition(result, type_, status, reason, message, generation, at=now)
        changed = True
    return result if changed else None


# -- EscalationPolicy ----------------------------------------------------------------------------------

#: What a channel's Secret reference can be found to be: there (None), or why not.
MISSING, UNREADABLE = "SecretMissing", "SecretUnreadable"


def escalation_ready(problems: dict[str, tuple[str, str]]) -> tuple[bool, str, str]:
    """An EscalationPolicy's Ready condition from what checking its channels found: ``problems`` maps a
    channel's name to (MISSING or UNREADABLE, what exactly). Unreadable wins the reason: it needs an admin."""
    if not problems:
        return True, "Valid", "every channel's Secret key is there"
    reason = UNREADABLE if any(kind == UNREADABLE for kind, _ in problems.values()) else MISSING
    named = "; ".join(f"channel {name}: {what}" for name, (_, what) in sorted(problems.items()))
    return False, reason, f"{len(problems)} channel(s) cannot be sent to: {named}"
