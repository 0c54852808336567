"""Finding the HorizontalPodAutoscaler that owns a workload's replica count."""

from __future__ import annotations

from typing import Any

from paramedic.kube import Clients

from .base import Target


def owning(clients: Clients, target: Target) -> dict[str, Any] | None:
    """The HPA whose scaleTargetRef is the target, if any."""
    if target.namespace is None:
        return None
    for hpa in clients.autoscaling.list_namespaced_horizontal_pod_autoscaler(target.namespace).items:
        ref = hpa.spec.scale_target_ref
        if ref.kind == target.kind and ref.name == target.name:
            return clients.plain(hpa)
    return None
