"""Put pods and nodes of the local cluster into the failure states paramedic
reacts to, exactly as a kubelet would report them.

KWOK plays the kubelet for scheduled pods: it makes them Running and Ready
once and then leaves their status alone, so these helpers write the status a
real kubelet writes for each failure through the ``pods/status`` and
``nodes/status`` subresources. Pending/Unschedulable needs no forgery: the
real scheduler reports it for a pod no node can take.

Every helper takes a ``kubernetes.client.CoreV1Api`` and returns the updated
object as a plain dict.
"""

from __future__ import annotations

import datetime
from typing import Any

from .objects import FAKE_NODE_ANNOTATION

UNSCHEDULABLE_LABEL = "paramedic.dev/no-such-node"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod(core: Any, namespace: str, name: str) -> dict[str, Any]:
    pod: dict[str, Any] = core.api_client.sanitize_for_serialization(core.read_namespaced_pod(name, namespace))
    return pod


def _containers(pod: dict[str, Any], container: str | None) -> list[dict[str, Any]]:
    statuses = {s["name"]: s for s in pod.get("status", {}).get("containerStatuses") or []}
    names = [c["name"] for c in pod["spec"]["containers"]]
    if container is not None:
        if container not in names:
            raise ValueError(f"pod {pod['metadata']['name']} has no container {container!r}")
        names = [container]
    return [statuses.get(n) or {"name": n, "image": _image(pod, n), "restartCount": 0} for n in names]


def _image(pod: dict[str, Any], name: str) -> str:
    return str(next(c["image"] for c in pod["spec"]["containers"] if c["name"] == name))


def _patch_pod_status(
    core: Any, namespace: str, name: str, statuses: list[dict[str, Any]], ready: bool
) -> dict[str, Any]:
    flag = "True" if ready else "False"
    now = _now()
    body = {
        "status": {
            "containerStatuses": statuses,
            "conditions": [
                {"type": "Ready", "status": flag, "lastTransitionTime": now},
                {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
            ],
        }
    }
    result = core.patch_namespaced_pod_status(name, namespace, body)
    patched: dict[str, Any] = core.api_client.sanitize_for_serialization(result)
    return patched


def make_crashloop(
    core: Any,
    namespace: str,
    name: str,
    *,
    restarts: int | None = None,
    container: str | None = None,
    exit_code: int = 1,
    reason: str = "Error",
) -> dict[str, Any]:
    """The container exited and the kubelet is backing off before the next start.

    ``restarts`` sets restartCount; by default it rises by one on each call, as
    it does on a real node with every failed restart.
    """
    pod = _pod(core, namespace, name)
    now = _now()
    statuses = []
    for status in _containers(pod, container):
        count = restarts if restarts is not None else int(status.get("restartCount", 0)) + 1
        statuses.append(
            {
                "name": status["name"],
                "image": status.get("image") or _image(pod, status["name"]),
                "imageID": status.get("imageID", ""),
                "restartCount": count,
                "ready": False,
                "started": False,
                "state": {
                    "running": None,
                    "terminated": None,
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off 5m0s restarting failed container={status['name']} pod={name}",
                    },
                },
                "lastState": {
                    "terminated": {"exitCode": exit_code, "reason": reason, "startedAt": now, "finishedAt": now}
                },
            }
        )
    return _patch_pod_status(core, namespace, name, statuses, ready=False)


def make_oomkilled(
    core: Any, namespace: str, name: str, *, container: str | None = None, finished_at: str | None = None
) -> dict[str, Any]:
    """The container was OOM-killed (exit 137) and has been started again.

    ``finished_at`` (RFC 3339) backdates the kill, e.g. to make one from yesterday.
    """
    pod = _pod(core, namespace, name)
    now = finished_at or _now()
    statuses = []
    for status in _containers(pod, container):
        statuses.append(
            {
                "name": status["name"],
                "image": status.get("image") or _image(pod, status["name"]),
                "imageID": status.get("imageID", ""),
                "restartCount": int(status.get("restartCount", 0)) + 1,
                "ready": True,
                "started": True,
                "state": {"waiting": None, "terminated": None, "running": {"startedAt": now}},
                "lastState": {
                    "terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": now, "finishedAt": now}
                },
            }
        )
    return _patch_pod_status(core, namespace, name, statuses, ready=True)


def make_healthy(core: Any, namespace: str, name: str, *, container: str | None = None) -> dict[str, Any]:
    """The container runs and is ready again; restartCount and lastState stay, as on a kubelet."""
    pod = _pod(core, namespace, name)
    now = _now()
    statuses = [
        {
            "name": status["name"],
            "image": status.get("image") or _image(pod, status["name"]),
            "restartCount": int(status.get("restartCount", 0)),
            "ready": True,
            "started": True,
            "state": {"waiting": None, "terminated": None, "running": {"startedAt": now}},
        }
        for status in _containers(pod, container)
    ]
    return _patch_pod_status(core, namespace, name, statuses, ready=True)


def unschedulable_pod(
    name: str, *, image: str = "registry.invalid/app:1", labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """A Pod manifest no node can take: the real scheduler marks it PodScheduled=False/Unschedulable."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "nodeSelector": {UNSCHEDULABLE_LABEL: "true"},
            "containers": [{"name": "app", "image": image}],
        },
    }


def make_node_not_ready(
    core: Any, name: str, *, status: str = "False", reason: str = "KubeletNotReady"
) -> dict[str, Any]:
    """The node's kubelet stops reporting Ready.

    KWOK is told to let go of the node first (its heartbeat would mark it Ready
    again); the node lifecycle controller then sees what it would see of a
    dead kubelet.
    """
    core.patch_node(name, {"metadata": {"annotations": {FAKE_NODE_ANNOTATION: "released"}}})
    now = _now()
    body = {
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": status,
                    "reason": reason,
                    "message": "container runtime is down"
                    if status == "False"
                    else "Kubelet stopped posting node status.",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ]
        }
    }
    node: dict[str, Any] = core.api_client.sanitize_for_serialization(core.patch_node_status(name, body))
    return node


def make_node_ready(core: Any, name: str) -> dict[str, Any]:
    """Give the node back to KWOK, whose heartbeat reports it Ready again."""
    node: dict[str, Any] = core.api_client.sanitize_for_serialization(
        core.patch_node(name, {"metadata": {"annotations": {FAKE_NODE_ANNOTATION: "fake"}}})
    )
    return node
