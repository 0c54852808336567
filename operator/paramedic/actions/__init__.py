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
    ec2_terminate_node_instance,
    eks_scale_nodegroup,
    elasticache_set_replicas,
    patch_hpa,
    raise_memory_limit,
    rds_failover_cluster,
    rds_reboot,
    rds_snapshot,
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
        rds_snapshot,
        rds_reboot,
        rds_failover_cluster,
        eks_scale_nodegroup,
        ec2_terminate_node_instance,
        elasticache_set_replicas,
    )
}

CLUSTER_ONLY = frozenset(name for name, action in REGISTRY.items() if action.cluster_only)
#: Actions that act on a node itself: their runbook must name Node in target.kinds.
NODE_ACTIONS = frozenset(name for name, action in REGISTRY.items() if action.kinds == {"Node"})
