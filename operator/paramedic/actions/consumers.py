"""Which pod templates use a Secret or ConfigMap (pure: unit-tested on its own).

A pod uses one when a volume mounts it or projects it, a container (or init
container) takes a key of it through env valueFrom or the whole of it
through envFrom, or, for a Secret, pulls its images with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

Source = Literal["secret", "configMap"]


def _volumes(spec: Mapping[str, Any], source: Source, name: str) -> bool:
    field = "secretName" if source == "secret" else "name"
    for volume in spec.get("volumes") or []:
        if (volume.get(source) or {}).get(field) == name:
            return True
        for projected in (volume.get("projected") or {}).get("sources") or []:
            if (projected.get(source) or {}).get("name") == name:
                return True
    return False


def _containers(spec: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(field) or []


def _env(spec: Mapping[str, Any], source: Source, name: str) -> bool:
    key_ref = "secretKeyRef" if source == "secret" else "configMapKeyRef"
    whole_ref = "secretRef" if source == "secret" else "configMapRef"
    for container in _containers(spec):
        for env in container.get("env") or []:
            if ((env.get("valueFrom") or {}).get(key_ref) or {}).get("name") == name:
                return True
        for env_from in container.get("envFrom") or []:
            if (env_from.get(whole_ref) or {}).get("name") == name:
                return True
    return False


def uses(pod_spec: Mapping[str, Any], source: Source, name: str) -> bool:
    """Whether pods of this spec use the Secret or ConfigMap ``name``."""
    if source == "secret" and any(ref.get("name") == name for ref in pod_spec.get("imagePullSecrets") or []):
        return True
    return _volumes(pod_spec, source, name) or _env(pod_spec, source, name)
