"""rdsFailoverCluster: fail an Aurora/Multi-AZ DB cluster over to a replica."""

from __future__ import annotations

from paramedic.api.params import RdsFailoverParams as Params

from . import aws
from .base import Action, ActionFailed, Context, Done, InProgress, Plan
from .workloads import ANY_KIND


def _writer(cluster: dict[str, object]) -> str:
    for member in cluster.get("DBClusterMembers") or []:  # type: ignore[attr-defined]
        if member.get("IsClusterWriter"):
            return str(member.get("DBInstanceIdentifier"))
    return ""


class RdsFailoverCluster(Action[Params]):
    name = "rdsFailoverCluster"
    kinds = ANY_KIND
    params_model = Params

    def _cluster(self, params: Params) -> dict[str, object]:
        found = aws.call(aws.client("rds").describe_db_clusters, DBClusterIdentifier=params.db_cluster_identifier)
        cluster: dict[str, object] = found["DBClusters"][0]
        return cluster

    def plan(self, ctx: Context, params: Params) -> Plan:
        writer = _writer(self._cluster(params))
        return Plan(
            f"fail over RDS cluster {params.db_cluster_identifier} (writer now {writer or 'unknown'})",
            {"cluster": params.db_cluster_identifier, "writerBefore": writer, "requested": False},
        )

    def apply(self, ctx: Context, params: Params, plan: Plan) -> Done | InProgress:
        if not plan.changes.get("requested") and ctx.inherited:
            # The previous leader may have sent the failover without recording it: verify, never repeat.
            cluster = self._cluster(params)
            if _writer(cluster) != plan.changes.get("writerBefore") or cluster.get("Status") != "available":
                return InProgress("the failover an earlier leader requested is under way", changes={"requested": True})
            raise ActionFailed(
                f"an earlier leader planned the failover of {params.db_cluster_identifier} and may have sent it; "
                "the writer is unchanged and the cluster available, so it cannot be told: not failing over again",
                "UnconfirmedIntent",
            )
        if not plan.changes.get("requested"):
            kwargs = {"DBClusterIdentifier": params.db_cluster_identifier}
            if params.target_db_instance_identifier:
                kwargs["TargetDBInstanceIdentifier"] = params.target_db_instance_identifier
            aws.call(aws.client("rds").failover_db_cluster, **kwargs)
            return InProgress("failover requested", retry_after=1.0, changes={"requested": True})
        cluster = self._cluster(params)
        if cluster.get("Status") != "available":
            return InProgress(f"cluster is {cluster.get('Status')}", retry_after=2.0)
        return Done(f"failed over {params.db_cluster_identifier}", {"writerAfter": _writer(cluster)})


ACTION = RdsFailoverCluster()
