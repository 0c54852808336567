"""Fixtures for tests that run paramedic against the real control plane."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from paramedic.devcluster.cluster import DevCluster
from paramedic.devcluster.install import OperatorProcess, apply_crds, ensure_namespace
from paramedic.kube import Clients
from tests import kit

OPERATOR_NAMESPACE = "paramedic-system"


@pytest.fixture(scope="session")
def clients(api: Any) -> Clients:
    return Clients(api)


@pytest.fixture(scope="session")
def crds(clients: Clients) -> None:
    apply_crds(clients)
    ensure_namespace(clients, OPERATOR_NAMESPACE)


@pytest.fixture(scope="session")
def operator(cluster: DevCluster, crds: None) -> Iterator[OperatorProcess]:
    """The operator, as its own process. Tests that kill it leave it running again."""
    process = OperatorProcess(cluster.kubeconfig, cluster.workdir / "logs" / "operator.log", OPERATOR_NAMESPACE)
    process.start_and_wait()
    yield process
    process.stop()


@pytest.fixture
def paramedic(clients: Clients, operator: OperatorProcess, namespace: str) -> kit.Kit:
    """Helpers to create runbooks and remediations in the test's namespace, with the operator running."""
    if not operator.running:
        operator.start_and_wait()
    return kit.Kit(clients, namespace, operator)
