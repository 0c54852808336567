"""Actions: the changes paramedic makes to the world, one module each.

Every module exposes ``ACTION``, an instance of ``base.Action`` with its
``Params`` model. The registry below is the only list of them: the Runbook
schema, the engine and the RBAC check all read it.
"""

from __future__ import annotations

from typing import Any

from . import (
    cordon,
    delete_pod,
    drain,
    patch_hpa,
    raise_memory_limit,
    rollback,
    rollout_restart,
    run_job,
    scale,
    uncordon,
)
from .base import Action

REGISTRY: dict[str, Action[Any]] = {
    module.ACTION.name: module.ACTION
    for module in (
        rollout_restart,
        scale,
        patch_hpa,
        delete_pod,
        rollback,
        raise_memory_limit,
        cordon,
        uncordon,
        drain,
        run_job,
    )
}

CLUSTER_ONLY = frozenset(name for name, action in REGISTRY.items() if action.cluster_only)
