"""The object a step acts on: what ``checks`` verifies and every action receives (``base.Context``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Target:
    """The object the step acts on, after resolution (a Pod's owning Deployment, ...)."""

    api_version: str
    kind: str
    name: str
    namespace: str | None
    obj: Mapping[str, Any]

    def describe(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"
