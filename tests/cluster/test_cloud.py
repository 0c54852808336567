"""Cloud actions against moto's server on loopback, driven end to end by the operator."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from paramedic.api.common import API_VERSION, GROUP, VERSION
from paramedic.kube import ApiException
from paramedic_dev import simulate
from paramedic_dev.cluster import DevCluster
from paramedic_dev.objects import fake_node
from tests.cluster.conftest import AWS_ENV, OPERATOR_NAMESPACE, _bind
from tests.cluster.test_triggers import one_remediation
from tests.kit import Kit, impersonating
from tests.waiting import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "aws"
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment"}


def aws(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=AWS_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def allowed(paramedic: Kit) -> dict[str, Any]:
    return {"matchLabels": {"kubernetes.io/metadata.name": paramedic.namespace}}


def rds_instance(rds: Any, name: str | None = None, **extra: Any) -> str:
    """A PostgreSQL instance in moto; its identifier."""
    db = name or f"orders-{uuid.uuid4().hex[:6]}"
    rds.create_db_instance(
        DBInstanceIdentifier=db,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="paramedic",
        MasterUserPassword="not-a-secret-1",
        **extra,
    )
    return db


def replication_group(cache: Any, clusters: int) -> str:
    """A Redis replication group of ``clusters`` cache clusters in moto; its identifier."""
    group = f"sessions-{uuid.uuid4().hex[:6]}"
    cache.create_replication_group(
        ReplicationGroupId=group,
        ReplicationGroupDescription="sessions",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheClusters=clusters,
    )
    return group


def aurora_cluster(rds: Any, name: str | None = None) -> str:
    """An Aurora PostgreSQL cluster in moto with two instances, ``<name>-a`` and ``<name>-b``; its identifier."""
    name = name or f"orders-{uuid.uuid4().hex[:6]}"
    rds.create_db_cluster(
        DBClusterIdentifier=name, Engine="aurora-postgresql", MasterUsername="paramedic", MasterUserPassword="x" * 12
    )
    for member in ("a", "b"):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{name}-{member}",
            DBInstanceClass="db.r5.large",
            Engine="aurora-postgresql",
            DBClusterIdentifier=name,
        )
    return name


def node_group(eks: Any, max_size: int, desired: int, name: str | None = None) -> str:
    """An EKS cluster in moto with a managed node group "workers" (min 1); its name."""
    cluster = name or f"prod-{uuid.uuid4().hex[:6]}"
    eks.create_cluster(
        name=cluster, roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={"subnetIds": ["subnet-1"]}
    )
    eks.create_nodegroup(
        clusterName=cluster,
        nodegroupName="workers",
        nodeRole="arn:aws:iam::123456789012:role/node",
        subnets=["subnet-1"],
        scalingConfig={"minSize": 1, "maxSize": max_size, "desiredSize": desired},
    )
    return cluster


def wait_cluster_phase(paramedic: Kit, namespace: str, name: str, phase: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        obj = paramedic.clients.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "remediations", name)
        status = obj.get("status") or {}
        return status if status.get("phase") == phase else None

    return wait_until(reached, 120, f"{namespace}/{name} to be {phase}")


def example(name: str, path: str = "clusterrunbook-replace-node.yaml") -> dict[str, Any]:
    """The ClusterRunbook ``name`` of an example file in examples/aws, as written."""
    docs = yaml.safe_load_all((EXAMPLES / path).read_text())
    found: dict[str, Any] = next(d for d in docs if d["metadata"]["name"] == name)
    return found


@contextlib.contextmanager
def applied(paramedic: Kit, body: dict[str, Any]) -> Iterator[str]:
    """The example ClusterRunbook created, and deleted afterwards (it is cluster-wide, its trigger armed)."""
    custom = paramedic.clients.custom
    custom.create_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", body)
    try:
        yield body["metadata"]["name"]
    finally:
        custom.delete_cluster_custom_object(GROUP, VERSION, "clusterrunbooks", body["metadata"]["name"])


def approver_of(paramedic: Kit, cluster: DevCluster, group: str) -> Kit:
    """Someone in ``group`` with paramedic-edit in the test's namespace, to approve as."""
    user = f"oncall@{paramedic.namespace}"
    _bind(paramedic.clients, paramedic.namespace, user, "paramedic-edit")
    return Kit(impersonating(str(cluster.kubeconfig), user, group), paramedic.namespace, paramedic.operator, user=user)


def test_replace_node_example_cordons_drains_and_terminates_the_instance(paramedic: Kit, moto_server: str) -> None:
    """examples/aws replace-not-ready-node, through its nodeNotReady trigger ("for" shortened from 5m)."""
    ec2 = aws("ec2", moto_server)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    node = f"aws-node-{uuid.uuid4().hex[:6]}"
    body = fake_node(node, provider_id=f"aws:///us-east-1a/{instance}")
    body["metadata"]["labels"]["eks.amazonaws.com/nodegroup"] = "workers"  # what the example selects
    core = paramedic.clients.core
    core.create_node(body)
    runbook = example("replace-not-ready-node")
    runbook["spec"]["trigger"]["nodeNotReady"]["for"] = "1s"
    try:
        wait_until(
            lambda: any(c.type == "Ready" and c.status == "True" for c in core.read_node(node).status.conditions or []),
            30,
            "the node to be Ready",
        )
        # A managed pod on the node (the example drains without force: an unmanaged pod would be refused).
        paramedic.deploy("on-the-node", replicas=1, node_selector={"kubernetes.io/hostname": node})
        (pod,) = paramedic.clients.core.list_namespaced_pod(paramedic.namespace, label_selector="app=on-the-node").items
        with applied(paramedic, runbook) as name:
            simulate.make_node_not_ready(core, node)
            rem = one_remediation(paramedic, name, OPERATOR_NAMESPACE)
            ops = paramedic.at(OPERATOR_NAMESPACE)
            status = ops.wait_phase(rem["metadata"]["name"], "Succeeded", timeout=120)
        assert [s["name"] for s in status["steps"]] == ["cordon", "drain", "replace instance"]
        assert status["steps"][1]["changes"]["evicted"] == [f"{paramedic.namespace}/{pod.metadata.name}"]
        assert status["steps"][2]["changes"]["instance"] == instance
        state = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"]
        assert state == "terminated"
        assert core.read_node(node).spec.unschedulable is True
    finally:
        core.delete_node(node)


def test_grow_workers_example_adds_two_nodes_for_a_pending_pod(paramedic: Kit, moto_server: str) -> None:
    """examples/aws grow-workers, through its podPending trigger ("for" shortened from 3m; its namespaces
    narrowed to the test's, so that other tests' pending pods do not fire it)."""
    eks = aws("eks", moto_server)
    node_group(eks, max_size=10, desired=2, name="prod")
    runbook = example("grow-workers")
    runbook["spec"]["trigger"]["podPending"]["for"] = "1s"
    runbook["spec"]["allowedNamespaces"] = allowed(paramedic)
    with applied(paramedic, runbook) as name:
        paramedic.clients.core.create_namespaced_pod(paramedic.namespace, simulate.unschedulable_pod("waiting"))
        rem = one_remediation(paramedic, name, paramedic.namespace)
        status = wait_cluster_phase(paramedic, paramedic.namespace, rem["metadata"]["name"], "Succeeded")
    assert (status["steps"][0]["changes"]["from"], status["steps"][0]["changes"]["to"]) == (2, 4)
    scaling = eks.describe_nodegroup(clusterName="prod", nodegroupName="workers")["nodegroup"]["scalingConfig"]
    assert scaling["desiredSize"] == 4


def test_reboot_orders_db_example_snapshots_then_reboots_with_failover(
    paramedic: Kit, cluster: DevCluster, moto_server: str
) -> None:
    """examples/aws reboot-orders-db as written: from a payments namespace, approved by platform-oncall."""
    rds = aws("rds", moto_server)
    rds_instance(rds, name="orders-prod", MultiAZ=True)
    paramedic.clients.core.patch_namespace(paramedic.namespace, {"metadata": {"labels": {"team": "payments"}}})
    paramedic.deploy("orders-api", replicas=1)
    with applied(paramedic, example("reboot-orders-db")) as name:
        rem = paramedic.remediation(name, {**DEPLOYMENT, "name": "orders-api"}, kind="ClusterRunbook")
        paramedic.wait_phase(rem, "AwaitingApproval")
        approver_of(paramedic, cluster, "platform-oncall").approve(rem)
        status = paramedic.wait_phase(rem, "Succeeded", timeout=120)
    snapshot = status["steps"][0]["changes"]["snapshot"]
    snapshots = rds.describe_db_snapshots(DBInstanceIdentifier="orders-prod", SnapshotType="manual")["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in snapshots] == [snapshot]
    assert "with failover" in status["steps"][1]["plan"]
    assert status["steps"][1]["changes"]["requested"] is True
    assert status["steps"][1]["changes"]["statusAfter"] == "available"


def test_failover_orders_cluster_example_moves_the_writer(
    paramedic: Kit, cluster: DevCluster, moto_server: str
) -> None:
    """examples/aws failover-orders-cluster as written: the Multi-AZ Aurora cluster's writer moves to -b."""
    rds = aws("rds", moto_server)
    aurora_cluster(rds, name="orders-aurora")
    paramedic.clients.core.patch_namespace(paramedic.namespace, {"metadata": {"labels": {"team": "payments"}}})
    paramedic.deploy("orders-api", replicas=1)
    body = example("failover-orders-cluster", "clusterrunbook-failover-orders-cluster.yaml")
    with applied(paramedic, body) as name:
        rem = paramedic.remediation(name, {**DEPLOYMENT, "name": "orders-api"}, kind="ClusterRunbook")
        paramedic.wait_phase(rem, "AwaitingApproval")
        approver_of(paramedic, cluster, "platform-oncall").approve(rem)
        status = paramedic.wait_phase(rem, "Succeeded", timeout=120)
    changes = status["steps"][0]["changes"]
    assert (changes["writerBefore"], changes["writerAfter"]) == ("orders-aurora-a", "orders-aurora-b")
    members = rds.describe_db_clusters(DBClusterIdentifier="orders-aurora")["DBClusters"][0]["DBClusterMembers"]
    assert [m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"]] == ["orders-aurora-b"]


def test_terminating_an_undrained_node_is_refused(paramedic: Kit, moto_server: str) -> None:
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.cluster_runbook({"target": {"kinds": ["Node"]}, "steps": [{"ec2TerminateNodeInstance": {}}]})
    ops = paramedic.at(OPERATOR_NAMESPACE)
    rem = ops.remediation(runbook, {"kind": "Node", "name": "kwok-node-0"}, kind="ClusterRunbook")
    status = ops.wait_phase(rem, "Failed")
    assert status["steps"][0]["reason"] == "NotDrained"


def test_rds_reboot_after_a_snapshot(paramedic: Kit, moto_server: str) -> None:
    rds = aws("rds", moto_server)
    db = rds_instance(rds)
    paramedic.deploy("orders-api", replicas=1)
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "orders-api", "namespace": paramedic.namespace}
    # The platform team's one-off fixes, from the operator's namespace: not held by a rate-limit budget
    # (a tenant's use of the same ClusterRunbook would be, and the second one would wait for the cooldown).
    ops = paramedic.at(OPERATOR_NAMESPACE)

    unsafe = paramedic.cluster_runbook(
        {"allowedNamespaces": allowed(paramedic), "steps": [{"rdsReboot": {"dbInstanceIdentifier": db}}]}
    )
    refused = ops.wait_phase(ops.remediation(unsafe, target, kind="ClusterRunbook"), "Failed")
    assert refused["steps"][0]["reason"] == "SnapshotRequired"

    safe = paramedic.cluster_runbook(
        {
            "allowedNamespaces": allowed(paramedic),
            "steps": [
                {"rdsSnapshot": {"dbInstanceIdentifier": db}},
                {"rdsReboot": {"dbInstanceIdentifier": db, "forceFailover": False}, "timeout": "2m"},
            ],
        }
    )
    rem = ops.remediation(safe, target, kind="ClusterRunbook")
    status = ops.wait_phase(rem, "Succeeded", timeout=120)
    snapshot = status["steps"][0]["changes"]["snapshot"]
    assert snapshot == f"paramedic-{rem}-s0"
    snapshots = rds.describe_db_snapshots(DBInstanceIdentifier=db, SnapshotType="manual")["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in snapshots] == [snapshot]
    assert status["steps"][1]["changes"]["requested"] is True
    assert status["steps"][1]["changes"]["statusAfter"] == "available"


def test_aws_errors_fail_the_step_with_their_code(paramedic: Kit, moto_server: str) -> None:
    paramedic.deploy("orders-api", replicas=1)
    runbook = paramedic.cluster_runbook(
        {
            "allowedNamespaces": allowed(paramedic),
            "steps": [{"rdsReboot": {"dbInstanceIdentifier": "no-such-db", "requireSnapshot": False}}],
        }
    )
    status = paramedic.wait_phase(
        paramedic.remediation(
            runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "orders-api"}, kind="ClusterRunbook"
        ),
        "Failed",
    )
    assert status["steps"][0]["reason"] == "DBInstanceNotFound"
    assert "AWS DBInstanceNotFound" in status["message"]


def test_node_group_scales_within_its_caps(paramedic: Kit, moto_server: str) -> None:
    eks = aws("eks", moto_server)
    cluster = node_group(eks, max_size=3, desired=2)
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.cluster_runbook(
        {
            "allowedNamespaces": allowed(paramedic),
            "steps": [
                {"eksScaleNodegroup": {"clusterName": cluster, "nodegroupName": "workers", "by": 10, "maxDesired": 5}}
            ],
        }
    )
    status = paramedic.wait_phase(
        paramedic.remediation(
            runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}, kind="ClusterRunbook"
        ),
        "Succeeded",
    )
    assert (status["steps"][0]["changes"]["from"], status["steps"][0]["changes"]["to"]) == (2, 5)
    scaling = eks.describe_nodegroup(clusterName=cluster, nodegroupName="workers")["nodegroup"]["scalingConfig"]
    assert (scaling["desiredSize"], scaling["maxSize"]) == (5, 5)


def test_ec2_dry_run_asks_aws(paramedic: Kit, moto_server: str) -> None:
    ec2 = aws("ec2", moto_server)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    node = f"aws-node-{uuid.uuid4().hex[:6]}"
    paramedic.clients.core.create_node(fake_node(node, provider_id=f"aws:///us-east-1a/{instance}"))
    try:
        runbook = paramedic.cluster_runbook(
            {"target": {"kinds": ["Node"]}, "steps": [{"cordon": {}}, {"drain": {}}, {"ec2TerminateNodeInstance": {}}]}
        )
        ops = paramedic.at(OPERATOR_NAMESPACE)
        status = ops.wait_phase(
            ops.remediation(runbook, {"kind": "Node", "name": node}, kind="ClusterRunbook", dryRun=True), "DryRun"
        )
        assert "request would have succeeded" in status["steps"][2]["message"]
        state = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"]
        assert state == "running"
        assert not paramedic.clients.core.read_node(node).spec.unschedulable
    finally:
        paramedic.clients.core.delete_node(node)


@pytest.mark.parametrize(
    "step",
    [
        {"rdsReboot": {"dbInstanceIdentifier": "db"}},
        {"eksScaleNodegroup": {"clusterName": "c", "nodegroupName": "n", "by": 1, "maxDesired": 3}},
    ],
)
def test_cloud_steps_are_refused_in_a_namespaced_runbook(paramedic: Kit, step: dict[str, Any]) -> None:
    body = {"apiVersion": API_VERSION, "kind": "Runbook", "metadata": {"name": "cloud"}, "spec": {"steps": [step]}}
    with pytest.raises(ApiException) as caught:
        paramedic.clients.custom.create_namespaced_custom_object(GROUP, VERSION, paramedic.namespace, "runbooks", body)
    assert caught.value.status == 422
    assert "spec.steps: Invalid value" in caught.value.body
    assert "need a ClusterRunbook" in caught.value.body


def test_elasticache_replicas_are_planned_within_the_cap(paramedic: Kit, moto_server: str) -> None:
    """moto does not implement IncreaseReplicaCount, so this checks the plan against moto's describe (dry run)."""
    cache = aws("elasticache", moto_server)
    group = replication_group(cache, 1)
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.cluster_runbook(
        {
            "allowedNamespaces": allowed(paramedic),
            "steps": [{"elasticacheSetReplicas": {"replicationGroupId": group, "replicas": 4, "maxReplicas": 2}}],
        }
    )
    status = paramedic.wait_phase(
        paramedic.remediation(
            runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}, kind="ClusterRunbook", dryRun=True
        ),
        "DryRun",
    )
    assert status["steps"][0]["changes"] == {"from": 0, "to": 2}


def test_elasticache_resize_run_against_moto_fails_cleanly_where_moto_stops(paramedic: Kit, moto_server: str) -> None:
    """Run for real (not a dry run): the plan is read from moto, then IncreaseReplicaCount, which moto's server
    does not implement (HTTP 500), fails the step with the AWS reason and changes nothing (docs/cloud.md)."""
    cache = aws("elasticache", moto_server)
    group = replication_group(cache, 1)
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.cluster_runbook(
        {
            "allowedNamespaces": allowed(paramedic),
            "onFailure": "Fail",
            "steps": [{"elasticacheSetReplicas": {"replicationGroupId": group, "replicas": 2, "maxReplicas": 3}}],
        }
    )
    rem = paramedic.remediation(runbook, {**DEPLOYMENT, "name": "api"}, kind="ClusterRunbook")
    status = paramedic.wait_phase(rem, "Failed", timeout=240)
    step = status["steps"][0]
    assert step["plan"] == f"set replicas of {group} from 0 to 2", step
    assert step["reason"] == "AWSUnavailable", step
    (found,) = cache.describe_replication_groups(ReplicationGroupId=group)["ReplicationGroups"]
    assert found["MemberClusters"] == [f"{group}-001"]
