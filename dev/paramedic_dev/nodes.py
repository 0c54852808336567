"""The fake nodes of the local cluster: Node objects that KWOK takes over (it writes their status and
heartbeats), told apart from any other node by one annotation."""

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
