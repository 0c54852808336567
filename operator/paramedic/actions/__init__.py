"""Actions: the changes paramedic makes to the world, one module each.

Every action module exposes ``ACTION``, an instance of ``base.Action``
implementing its ``Params`` model. The Step model (``api.runbook``) declares
the step fields and their parameters (``api.params``); this package finds
the module of each by itself, so an action is its model, its Step field and
its module, and no list to keep in line.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from paramedic.api.runbook import ACTION_FIELDS
from paramedic.api.runbook import CLUSTER_ONLY as CLUSTER_ONLY
from paramedic.api.runbook import NODE_ACTIONS as NODE_ACTIONS

from .base import Action


def _discover() -> dict[str, Action[Any]]:
    found: dict[str, Action[Any]] = {}
    for info in pkgutil.iter_modules(__path__):
        action = getattr(importlib.import_module(f"{__name__}.{info.name}"), "ACTION", None)
        if isinstance(action, Action):
            found[action.name] = action
    missing, unknown = set(ACTION_FIELDS) - set(found), set(found) - set(ACTION_FIELDS)
    if missing or unknown:
        raise ImportError(
            f"actions without a module: {sorted(missing)}; modules without a Step field: {sorted(unknown)}"
        )
    return {name: found[name] for name in ACTION_FIELDS}


#: Every action by its step field, in the Step model's order.
REGISTRY: dict[str, Action[Any]] = _discover()
