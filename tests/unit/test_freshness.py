"""Which body the driver works from: the watch's, or the response of our own newer write. Plain logic."""

from __future__ import annotations

from typing import Any

from paramedic.engine.freshness import Newest


def body(version: str, phase: str = "") -> dict[str, Any]:
    return {"metadata": {"uid": "u1", "resourceVersion": version}, "status": {"phase": phase}}


def test_the_watch_lagging_behind_our_write_is_answered_by_the_writes_response() -> None:
    newest = Newest()
    newest.replaced(body("1"), body("2", "Running"))
    assert newest.of(body("1")) == body("2", "Running")  # the watch still shows what the write was based on


def test_the_watch_at_or_past_our_write_wins() -> None:
    newest = Newest()
    newest.replaced(body("1"), body("2", "Running"))
    assert newest.of(body("2", "Running")) == body("2", "Running")
    assert newest.of(body("3", "Verifying")) == body("3", "Verifying")  # someone wrote after us


def test_after_a_conflict_the_state_is_unknown_until_read_or_delivered() -> None:
    newest = Newest()
    newest.replaced(body("4"), None)
    assert newest.of(body("4")) is None
    assert newest.of(body("5")) == body("5")
    newest.replaced(body("4"), body("6"))  # what the read returned
    assert newest.of(body("4")) == body("6")


def test_forgotten_once_finished() -> None:
    newest = Newest()
    newest.replaced(body("1"), body("2"))
    newest.forget(body("2"))
    assert newest.of(body("1")) == body("1")


def test_every_version_written_over_stays_superseded() -> None:
    """Our write (1 -> 2) then a conflict on 2: a watch still at 1 must not drive from 1 again."""
    newest = Newest()
    newest.replaced(body("1"), body("2", "Running"))
    newest.replaced(body("2", "Running"), None)
    assert newest.of(body("1")) is None
    assert newest.of(body("2", "Running")) is None
    newest.replaced(body("2"), body("3", "Verifying"))
    assert newest.of(body("1")) == body("3", "Verifying")
    assert newest.of(body("3", "Verifying")) == body("3", "Verifying")
