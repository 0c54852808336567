"""The escalation side of the composition root: one Kopf daemon per Remediation whose escalation is
active, notifying humans level by level (``notifier.Notifier``), on the replica that acts only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

from paramedic.api.common import GROUP, VERSION

from .notifier import Notifier


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
