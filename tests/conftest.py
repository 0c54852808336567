"""Fixtures shared by every test: the real control plane and its clients."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings
from kubernetes import client

from paramedic_dev.cluster import DevCluster
from tests.waiting import wait_until

# This machine is shared and noisy: a property holds or not whatever an example's wall time, so no
# hypothesis test fails on its deadline (a slow example is not a counter-example).
settings.register_profile("paramedic", deadline=None)
settings.load_profile("paramedic")


@pytest.fixture(scope="session")
def cluster() -> Iterator[DevCluster]:
    """One control plane for the whole run: etcd, kube-apiserver,
    kube-controller-manager, kube-scheduler and KWOK with three fake nodes.

    The HPA controller is off: without a metrics API it would keep rewriting
    the HPA status that trigger tests set themselves.
    """
    with DevCluster(
        nodes=int(os.environ.get("PARAMEDIC_TEST_NODES", "3")), disabled_controllers=["horizontalpodautoscaling"]
    ) as devcluster:
        yield devcluster


@pytest.fixture(scope="session")
def api(cluster: DevCluster) -> Iterator[Any]:
    api_client = cluster.api_client()
    yield api_client
    api_client.close()


@pytest.fixture(scope="session")
def core(api: Any) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture(scope="session")
def apps(api: Any) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture
def namespace(core: client.CoreV1Api) -> Iterator[str]:
    """A fresh namespace per test, with its default ServiceAccount in place
    (pods are refused until the service-account controller made it)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    wait_until(lambda: core.list_namespaced_service_account(name).items, 30, "the default ServiceAccount")
    yield name
    core.delete_namespace(name)
