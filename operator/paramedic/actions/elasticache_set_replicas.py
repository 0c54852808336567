"""elasticacheSetReplicas: add (or remove) read replicas of a replication group, within a cap."""

from __future__ import annotations

from typing import Any

from paramedic.api.params import ElasticacheReplicasParams as Params

from . import aws
from .base import Action, ActionFailed, Context, Done, InProgress, Plan
from .workloads import ANY_KIND


def _group(params: Params) -> dict[str, Any]:
    found = aws.call(
        aws.client("elasticache").describe_replication_groups, ReplicationGroupId=params.replication_group_id
    )
    group: dict[str, Any] = found["ReplicationGroups"][0]
    return group


def _replicas(group: dict[str, Any]) -> int:
    members = (group.get("NodeGroups") or [{}])[0].get("NodeGroupMembers") or []
    return max(len(members) - 1, 0)


class ElasticacheSetReplicas(Action[Params]):
    name = "elasticacheSetReplicas"
    kinds = ANY_KIND
    params_model = Params

    def plan(self, ctx: Context, params: Params) -> Plan:
        current = _replicas(_group(params))
        wanted = min(params.replicas, params.max_replicas)
        if wanted == current:
            raise ActionFailed(f"{params.replication_group_id} already has {current} replicas", "NoChange")
        return Plan(
            f"set replicas of {params.replication_group_id} from {current} to {wanted}", {"from": current, "to": wanted}
        )

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done | InProgress:
        group = _group(params)
        wanted = int(plan.changes["to"])
        if group.get("Status") != "available":
            return InProgress(f"{params.replication_group_id} is {group.get('Status')}", retry_after=2.0)
        current = _replicas(group)
        if current == wanted:
            return Done(f"{params.replication_group_id} has {wanted} replicas", {"replicas": wanted})
        client = aws.client("elasticache")
        change = client.increase_replica_count if wanted > current else client.decrease_replica_count
        aws.call(change, ReplicationGroupId=params.replication_group_id, NewReplicaCount=wanted, ApplyImmediately=True)
        return InProgress(f"replica change to {wanted} requested", retry_after=2.0)


ACTION = ElasticacheSetReplicas()
