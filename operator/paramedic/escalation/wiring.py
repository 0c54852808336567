"""The escalation side of the composition root: one Kopf daemon per Remediation whose escalation is
active, notifying humans level by level (``notifier.Notifier``), and one per Remediation holding an
Alertmanager silence while it acts (``silences.Silencer``), on the replica that acts only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

from paramedic.api.common import GROUP, VERSION

from . import silences
from .notifier import Notifier
from .silences import Silencer


def _escalating(status: Any, **_: Any) -> bool:
    return bool(((status or {}).get("escalation") or {}).get("state") == "Active")


def register(registry: kopf.OperatorRegistry, notifier: Notifier, acting: Callable[[], bool]) -> None:
    @kopf.daemon(
        GROUP, VERSION, "remediations", registry=registry, id="escalation", when=_escalating, cancellation_timeout=10.0
    )
    async def escalate(name: str, namespace: str | None, stopped: kopf.DaemonStopped, **_: Any) -> None:
        """Notify humans, level by level, until the Remediation succeeds or is resolved."""
        assert namespace is not None
        while not acting():  # a standby sends nothing; it takes over the daemon when it leads
            await stopped.wait(1.0)
            if stopped:
                return
        await notifier.drive(namespace, name, lambda: bool(stopped))


def register_silences(registry: kopf.OperatorRegistry, silencer: Silencer, acting: Callable[[], bool]) -> None:
    @kopf.daemon(
        GROUP, VERSION, "remediations", registry=registry, id="silence", when=silences.wanted, cancellation_timeout=10.0
    )
    async def silence(name: str, namespace: str | None, stopped: kopf.DaemonStopped, **_: Any) -> None:
        """Hold the runbook's Alertmanager silence while the Remediation acts; expire it at the end."""
        assert namespace is not None
        while not acting():  # a standby holds nothing; the leader's daemon extends the recorded silence
            await stopped.wait(1.0)
            if stopped:
                return
        await silencer.drive(namespace, name, lambda: bool(stopped))
