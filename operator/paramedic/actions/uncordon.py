"""uncordon: make the target node schedulable again, as ``kubectl uncordon`` does."""

from __future__ import annotations

from typing import ClassVar

from paramedic.api.params import CordonParams as Params

from .cordon import Cordon

__all__ = ["ACTION", "Params", "Uncordon"]


class Uncordon(Cordon):
    name = "uncordon"
    unschedulable: ClassVar[bool] = False


ACTION = Uncordon()
