"""Steps intended under another leadership (paramedic.fencing): the cloud requests that cannot be repeated
safely are verified, never sent twice. The actions run in-process against moto's server, and the requests
they send are counted with botocore's own event hooks on the very client they use."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from paramedic.actions import aws, rds_failover_cluster, rds_reboot
from paramedic.actions.base import ActionFailed, Context, InProgress, Plan, Target
from paramedic.kube import Clients
from tests.cluster.conftest import AWS_ENV
from tests.cluster.test_cloud import aurora_cluster, rds_instance


@pytest.fixture
def rds(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, list[str]]]:
    """The actions' own RDS client, pointed at moto, and the operations it sends."""
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PARAMEDIC_AWS_ENDPOINT_URL", moto_server)
    aws.client.cache_clear()
    sent: list[str] = []
    client = aws.client("rds")
    client.meta.events.register("before-call.rds.*", lambda model, **_: sent.append(model.name))
    yield client, sent
    aws.client.cache_clear()


def context(clients: Clients, inherited: bool) -> Context:
    target = Target("v1", "Namespace", "default", None, {"metadata": {"name": "default"}})
    return Context(clients, target, "orders", "default", str(uuid.uuid4()), 0, inherited=inherited)


def test_an_inherited_unconfirmed_reboot_is_not_sent_again(clients: Clients, rds: tuple[Any, list[str]]) -> None:
    client, sent = rds
    db = rds_instance(client)
    params = rds_reboot.Params.model_validate({"dbInstanceIdentifier": db, "requireSnapshot": False})
    plan = Plan(f"reboot RDS instance {db}", {"dbInstance": db, "statusBefore": "available", "requested": False})
    sent.clear()

    with pytest.raises(ActionFailed) as refused:
        rds_reboot.ACTION.apply(context(clients, inherited=True), params, plan)
    assert refused.value.reason == "UnconfirmedIntent"
    assert "RebootDBInstance" not in sent

    # The same recorded plan, intended by this leadership: the reboot is sent, once, and recorded.
    result = rds_reboot.ACTION.apply(context(clients, inherited=False), params, plan)
    assert isinstance(result, InProgress)
    assert result.changes == {"requested": True}
    assert sent.count("RebootDBInstance") == 1
    # Once the request is recorded, an inherited step only waits for the instance: nothing is sent again.
    requested = Plan(plan.summary, {**plan.changes, "requested": True})
    rds_reboot.ACTION.apply(context(clients, inherited=True), params, requested)
    assert sent.count("RebootDBInstance") == 1


def test_an_inherited_failover_is_verified_by_its_writer(clients: Clients, rds: tuple[Any, list[str]]) -> None:
    client, sent = rds
    name = aurora_cluster(client)
    params = rds_failover_cluster.Params.model_validate(
        {"dbClusterIdentifier": name, "targetDbInstanceIdentifier": f"{name}-b"}
    )
    writer = rds_failover_cluster._writer(client.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0])
    plan = Plan(f"fail over {name}", {"cluster": name, "writerBefore": writer, "requested": False})
    sent.clear()

    # Writer unchanged: the earlier leader's request cannot be told to have been sent; nothing is sent.
    with pytest.raises(ActionFailed) as refused:
        rds_failover_cluster.ACTION.apply(context(clients, inherited=True), params, plan)
    assert refused.value.reason == "UnconfirmedIntent"
    assert "FailoverDBCluster" not in sent

    # The earlier leader's failover did happen (the writer moved): it is awaited, not repeated.
    client.failover_db_cluster(DBClusterIdentifier=name, TargetDBInstanceIdentifier=f"{name}-b")
    sent.clear()
    result = rds_failover_cluster.ACTION.apply(context(clients, inherited=True), params, plan)
    assert isinstance(result, InProgress)
    assert result.changes == {"requested": True}
    assert "FailoverDBCluster" not in sent
