"""Job templates a namespaced Runbook may and may not ask for, shared by the unit and cluster tests
so that the API server and `paramedic lint` are shown to refuse the very same things."""

from __future__ import annotations

import copy
from typing import Any

#: Where each forbidden field sits, below the step's runJob.
POD = ("template", "spec", "template", "spec")
CONTAINER = (*POD, "containers", 0)


def pod(**extra: Any) -> dict[str, Any]:
    """A small Job pod spec that a Runbook may use, with ``extra`` pod-level fields."""
    return {"containers": [{"name": "psql", "image": "registry.invalid/psql:16", "command": ["true"]}], **extra}


def run_job(pod_spec: dict[str, Any], **job: Any) -> dict[str, Any]:
    return {"runJob": {"template": {"spec": {"template": {"spec": pod_spec}, **job}}}}


def with_security_context(**context: Any) -> dict[str, Any]:
    spec = pod()
    spec["containers"][0]["securityContext"] = context
    return spec


#: (what, the runJob step, the path of the field that must be named)
FORBIDDEN: list[tuple[str, dict[str, Any], tuple[str | int, ...]]] = [
    ("serviceAccountName", run_job(pod(serviceAccountName="paramedic")), (*POD, "serviceAccountName")),
    ("serviceAccount", run_job(pod(serviceAccount="paramedic")), (*POD, "serviceAccount")),
    (
        "automountServiceAccountToken",
        run_job(pod(automountServiceAccountToken=True)),
        (*POD, "automountServiceAccountToken"),
    ),
    ("hostPID", run_job(pod(hostPID=True)), (*POD, "hostPID")),
    ("hostNetwork", run_job(pod(hostNetwork=True)), (*POD, "hostNetwork")),
    ("hostIPC", run_job(pod(hostIPC=True)), (*POD, "hostIPC")),
    (
        "hostPath",
        run_job(pod(volumes=[{"name": "root", "hostPath": {"path": "/"}}])),
        (*POD, "volumes", 0, "hostPath"),
    ),
    ("privileged", run_job(with_security_context(privileged=True)), (*CONTAINER, "securityContext", "privileged")),
    (
        "allowPrivilegeEscalation",
        run_job(with_security_context(allowPrivilegeEscalation=True)),
        (*CONTAINER, "securityContext", "allowPrivilegeEscalation"),
    ),
    (
        "capabilities.add",
        run_job(with_security_context(capabilities={"add": ["SYS_ADMIN"]})),
        (*CONTAINER, "securityContext", "capabilities", "add"),
    ),
    ("nodeName", run_job(pod(nodeName="kwok-node-0")), (*POD, "nodeName")),
]

#: A Job using every kind of field the subset allows.
ALLOWED_POD: dict[str, Any] = {
    "restartPolicy": "OnFailure",
    "activeDeadlineSeconds": 600,
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "imagePullSecrets": [{"name": "registry"}],
    "volumes": [
        {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "conf", "configMap": {"name": "jobs", "optional": True, "items": [{"key": "a", "path": "a.sql"}]}},
        {"name": "creds", "secret": {"secretName": "db", "optional": True, "defaultMode": 0o400}},
        {
            "name": "both",
            "projected": {
                "defaultMode": 0o440,
                "sources": [
                    {"secret": {"name": "db", "optional": True, "items": [{"key": "u", "path": "url", "mode": 0o400}]}},
                    {"configMap": {"name": "jobs", "optional": True}},
                ],
            },
        },
    ],
    "containers": [
        {
            "name": "psql",
            "image": "registry.invalid/psql:16",
            "imagePullPolicy": "IfNotPresent",
            "command": ["psql"],
            "args": ["-c", "select 1"],
            "workingDir": "/tmp",
            "env": [
                {"name": "MODE", "value": "fix"},
                {"name": "URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url", "optional": True}}},
                {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "jobs", "key": "lvl", "optional": True}}},
            ],
            "envFrom": [
                {"secretRef": {"name": "db", "optional": True}},
                {"prefix": "J_", "configMapRef": {"name": "jobs", "optional": True}},
            ],
            "resources": {
                "requests": {"cpu": "100m", "memory": "64Mi"},
                "limits": {"cpu": 1, "memory": "128Mi"},
            },
            "volumeMounts": [
                {"name": "scratch", "mountPath": "/scratch"},
                {"name": "conf", "mountPath": "/etc/j", "readOnly": True},
                {"name": "both", "mountPath": "/etc/db/url", "subPath": "url"},
            ],
            "securityContext": {
                "runAsUser": 1001,
                "runAsGroup": 1001,
                "runAsNonRoot": True,
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
        }
    ],
}


def allowed_step() -> dict[str, Any]:
    step = run_job(copy.deepcopy(ALLOWED_POD), backoffLimit=1, activeDeadlineSeconds=900)
    template = step["runJob"]["template"]
    template["spec"]["template"]["metadata"] = {"labels": {"team": "db"}}
    template["labels"] = {"purpose": "maintenance"}
    template["annotations"] = {"example.com/ticket": "OPS-1"}
    step["runJob"]["ttlSecondsAfterFinished"] = 3600
    return step


def contains(actual: Any, expected: Any) -> bool:
    """Whether ``actual`` (an object the API server returned) holds everything ``expected`` sets;
    a number may come back as a quantity string (cpu: 1 -> "1")."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) >= len(expected) and all(map(contains, actual, expected))
    return bool(actual == expected or (isinstance(expected, int) and actual == str(expected)))


def api_path(path: tuple[str | int, ...], step: int = 0) -> str:
    """The field as the API server names it: spec.steps[0].runJob.template..."""
    text = f"spec.steps[{step}].runJob"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def lint_path(path: tuple[str | int, ...], step: int = 0) -> str:
    """The field as `paramedic lint` names it: as the API server does."""
    return api_path(path, step)


def job_path(path: tuple[str | int, ...]) -> str:
    """The field as the run-time guard names it, from the Job's spec: spec.template.spec..."""
    text = "spec"
    for part in path[2:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text
