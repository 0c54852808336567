"""uncordon: make the target node schedulable again, as ``kubectl uncordon`` does."""

from __future__ import annotations

from typing import ClassVar

from .cordon import Cordon, Params

__all__ = ["ACTION", "Params", "Uncordon"]


class Uncordon(Cordon):
    name = "uncordon"
    unschedulable: ClassVar[bool] = False


ACTION = Uncordon()
