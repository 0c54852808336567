"""The objects of the local cluster's workloads: fake nodes (Node objects that KWOK takes over: it writes
their status and heartbeats, told apart from any other node by one annotation) and the Deployments whose
pods KWOK runs on them."""

from __future__ import annotations

from typing import Any

#: KWOK manages the nodes that carry this annotation with the value ``fake``.
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"


def fake_node(
    name: str, cpu: str = "32", memory: str = "256Gi", pods: str = "250", provider_id: str | None = None
) -> dict[str, Any]:
    """A Node object that KWOK takes over (it writes the status and heartbeats)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {FAKE_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "spec": {"providerID": provider_id} if provider_id else {},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
            "capacity": {"cpu": cpu, "memory": memory, "pods": pods},
        },
    }


def deployment(
    name: str, replicas: int = 2, labels: dict[str, str] | None = None, image: str = "registry.invalid/app:1"
) -> dict[str, Any]:
    """A Deployment whose pods KWOK runs (the image is never pulled), selected by ``labels`` (default app=name)."""
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": image}]}},
        },
    }
