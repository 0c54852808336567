"""Times as Kubernetes writes them: RFC 3339 in UTC, to the second (``metadata.creationTimestamp``,
conditions' ``lastTransitionTime``). One place for the wire form, the clock and the parse; the API models'
``Time`` type (``api.common``) is built on these."""

from __future__ import annotations

from datetime import UTC, datetime

#: The form the API server writes its own times in.
WIRE = "%Y-%m-%dT%H:%M:%SZ"


def as_utc(value: datetime) -> datetime:
    """Every time is UTC: a stamp without an offset (never written by paramedic) is read as UTC, so that
    comparing two times never fails on naive against aware."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def rfc3339(value: datetime) -> str:
    """The wire form of a time, as Kubernetes writes it: UTC, to the second."""
    return as_utc(value).strftime(WIRE)


def utcnow() -> datetime:
    """The current time, to the second (what the wire form keeps), in UTC."""
    return datetime.now(UTC).replace(microsecond=0)


def now() -> str:
    """The current time in the wire form."""
    return rfc3339(utcnow())


def parse_time(text: str) -> datetime:
    """A time the API server wrote (``...Z``, to the second)."""
    return datetime.strptime(text, WIRE).replace(tzinfo=UTC)
