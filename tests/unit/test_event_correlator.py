"""Aggregation of repeated Events: the pure keying and counting (records/events.py Correlator)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from paramedic.records.events import Correlator, key

POD = {"kind": "Pod", "name": "web-0", "uid": "u1"}


def test_identical_repeats_within_the_window_count_on_the_first_event() -> None:
    correlator = Correlator(window=60)
    k = key("shop", POD, "Warning", "Refused", "rate limited")
    assert correlator.repeat(k, 0.0) is None
    correlator.posted(k, "web-0.abc", 0.0)
    counts = [correlator.repeat(k, float(t)) for t in (1, 2, 30)]
    assert [(c.name, c.count) for c in counts if c] == [("web-0.abc", 2), ("web-0.abc", 3), ("web-0.abc", 4)]
    assert correlator.repeat(k, 61.0) is None  # past the window: a new Event


def test_a_different_message_reason_type_or_object_is_another_event() -> None:
    correlator = Correlator()
    correlator.posted(key("shop", POD, "Warning", "Refused", "rate limited"), "e1", 0.0)
    for other in (
        key("shop", POD, "Warning", "Refused", "frozen"),
        key("shop", POD, "Warning", "Skipped", "rate limited"),
        key("shop", POD, "Normal", "Refused", "rate limited"),
        key("shop", {**POD, "uid": "u2"}, "Warning", "Refused", "rate limited"),
        key("other", POD, "Warning", "Refused", "rate limited"),
    ):
        assert correlator.repeat(other, 1.0) is None


@given(st.lists(st.integers(0, 50), max_size=300), st.integers(1, 16))
def test_memory_stays_bounded_and_the_most_recent_are_kept(objects: list[int], capacity: int) -> None:
    correlator = Correlator(capacity=capacity)
    for n in objects:
        k = key("ns", {"kind": "Pod", "name": f"p{n}"}, "Normal", "R", "m")
        if correlator.repeat(k, 0.0) is None:
            correlator.posted(k, f"p{n}", 0.0)
    assert len(correlator._seen) <= capacity
    if objects:
        last = key("ns", {"kind": "Pod", "name": f"p{objects[-1]}"}, "Normal", "R", "m")
        assert correlator.repeat(last, 1.0) is not None
