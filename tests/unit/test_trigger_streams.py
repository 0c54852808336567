"""What the trigger streams keep and pass on (tracking), the coalesced fire counters, and the quiet Kopf log."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from paramedic import logs
from paramedic.triggers.counters import FireCounters
from paramedic.triggers.stream import project_pod
from paramedic.triggers.symptoms import Symptom
from paramedic.triggers.tracking import Change, Tracker


def fake(obj: Mapping[str, Any]) -> tuple[str, list[Symptom]]:
    """Objects are {"name": ..., "failing": bool}: a failing one has one symptom."""
    name = str(obj["name"])
    if not obj["failing"]:
        return name, []
    return name, [Symptom("podCrashLoop", "Pod", name, "ns", {}, occurrence=name)]


names = st.sampled_from(["a", "b", "c", "d"])
steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["ADDED", "MODIFIED", "DELETED"]), names, st.booleans()),
        st.tuples(st.just("LIST"), st.dictionaries(names, st.booleans()), st.just(False)),
    ),
    max_size=30,
)


@given(steps)
def test_the_changes_passed_on_track_exactly_the_failing_objects(script: list[Any]) -> None:
    """Whatever the order of events and re-listings, the receiver's view (the last change per key) equals
    the truth (the objects failing now), and a healthy object never produces a change unless it was failing."""
    tracker = Tracker(fake)
    truth: dict[str, bool] = {}
    view: dict[str, bool] = {}

    def receive(change: Change) -> None:
        key, found = change
        if not found:
            assert view.get(key), f"{key} healed but was never reported failing"
        view[key] = bool(found)

    for kind, arg, failing in script:
        if kind == "LIST":
            truth = dict(arg)
            for change in tracker.listing([{"name": n, "failing": f} for n, f in arg.items()]):
                receive(change)
            continue
        if kind == "DELETED":
            truth.pop(arg, None)
        else:
            truth[arg] = failing
        change = tracker.event(kind, {"name": arg, "failing": failing})
        if change is not None:
            receive(change)
    assert {k for k, v in view.items() if v} == {k for k, v in truth.items() if v}
    assert tracker.failing == {k for k, v in truth.items() if v}


def test_a_healthy_pod_leaves_nothing_behind() -> None:
    tracker = Tracker(project_pod)
    pod = {
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1"},
        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "state": {"running": {}}}]},
    }
    assert tracker.event("ADDED", pod) is None
    assert tracker.failing == set()
    crashing = {
        **pod,
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "app", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ],
        },
    }
    change = tracker.event("MODIFIED", crashing)
    assert change is not None
    assert change[0] == "Pod/shop/web-1"
    assert change[1][0].trigger == "podCrashLoop"
    assert tracker.event("MODIFIED", pod) == ("Pod/shop/web-1", [])
    assert tracker.failing == set()


# -- fire counters ---------------------------------------------------------------------------


def test_a_lone_fire_is_written_at_once_and_a_burst_once_per_interval() -> None:
    counters = FireCounters(interval=5.0)
    counters.seed("Runbook/ns/rb", 3)
    assert counters.claim(100.0) == []  # the status is right: nothing to write at start-up
    counters.fired("Runbook/ns/rb", "t1")
    (write,) = counters.claim(100.0)
    assert (write.fire_count, write.last_fired_at) == (4, "t1")
    counters.done(write)
    for stamp in ("t2", "t3", "t4"):
        counters.fired("Runbook/ns/rb", stamp)
        assert counters.claim(101.0) == []
    (write,) = counters.claim(105.0)
    assert (write.fire_count, write.last_fired_at) == (7, "t4")
    counters.done(write)
    assert counters.claim(200.0) == []  # nothing changed since


def test_a_failed_write_stays_owed() -> None:
    counters = FireCounters(interval=5.0)
    counters.fired("ClusterRunbook//rb", "t1")
    (write,) = counters.claim(0.0)
    assert counters.claim(1.0) == []  # claimed: a concurrent flush does not write it again
    assert counters.claim(5.0) == []  # still in flight: a later count must not overtake it
    counters.done(write, written=False)
    assert counters.claim(5.0) == [write]  # failed: retried after the interval


def test_a_later_count_waits_for_the_write_in_flight() -> None:
    counters = FireCounters(interval=5.0)
    counters.fired("Runbook/ns/rb", "t1")
    (first,) = counters.claim(0.0)
    counters.fired("Runbook/ns/rb", "t2")
    assert counters.claim(10.0) == []  # the first write has not returned
    counters.done(first)
    (second,) = counters.claim(10.0)
    assert (first.fire_count, second.fire_count) == (1, 2)


def test_a_seed_never_counts_backwards() -> None:
    counters = FireCounters()
    counters.fired("Runbook/ns/rb", "t1")
    counters.fired("Runbook/ns/rb", "t2")
    counters.seed("Runbook/ns/rb", 1)  # an older status from the watch
    assert [w.fire_count for w in counters.pending()] == [2]


@given(st.lists(st.tuples(st.floats(0, 3), st.booleans()), max_size=60))
def test_at_most_one_write_per_interval_and_the_last_write_has_every_fire(script: list[tuple[float, bool]]) -> None:
    """Fires and flushes at any times: writes of a runbook are ``interval`` apart, and after a final
    flush the written count equals the fires."""
    counters, clock, fires, written_at = FireCounters(interval=5.0), 0.0, 0, []
    last = 0
    for step, fire in script:
        clock += step
        if fire:
            fires += 1
            counters.fired("Runbook/ns/rb", f"{clock}")
        for write in counters.claim(clock):
            written_at.append(clock)
            last = write.fire_count
            counters.done(write)
    assert all(b - a >= 5.0 for a, b in itertools.pairwise(written_at))
    for write in counters.pending():
        last = write.fire_count
        counters.done(write)
    assert last == fires
    assert counters.pending() == []


# -- logs --------------------------------------------------------------------------------------


def test_kopf_success_lines_of_the_watch_handlers_are_dropped() -> None:
    logger = logging.getLogger("kopf.objects")
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Keep()
    logger.addHandler(handler)
    try:
        logs.quiet_handlers(("runbook_event",))
        logs.quiet_handlers(("runbook_event",))  # idempotent
        logger.warning("Handler 'runbook_event' succeeded.")
        logger.warning("Handler 'register.<locals>.runbook_event' succeeded.")
        logger.warning("Handler 'register.<locals>.runbook_event_2' succeeded.")
        logger.warning("Handler 'remediation' succeeded.")
        logger.warning("Handler 'runbook_event' failed with an exception and will try again in 1 seconds: x")
    finally:
        logger.removeHandler(handler)
        logger.filters.clear()
    assert seen == [
        "Handler 'register.<locals>.runbook_event_2' succeeded.",
        "Handler 'remediation' succeeded.",
        "Handler 'runbook_event' failed with an exception and will try again in 1 seconds: x",
    ]
