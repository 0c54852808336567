"""The part of a batch/v1 JobSpec a namespaced Runbook may ask for.

The operator creates a runJob's Job with its own, cluster-wide credentials,
so a Job template copied unchecked from a tenant's Runbook would let the
tenant borrow the operator's power: another ServiceAccount's token, the
node's network or process namespaces, a hostPath mount, a privileged
container, a pod pinned to a chosen node. This module is an allow-list, not a
deny-list: only the fields below exist in a Runbook's schema, so anything
else is an "unknown field" for the API server (with fieldValidation=Strict,
kubectl's default) and for ``paramedic lint`` (``extra="forbid"``). A
ClusterRunbook, written by the cluster's administrators, keeps the full
JobSpec.

Every list, map and string is bounded, so a Runbook's snapshot copied into
each Remediation's status stays bounded too (see tests/unit/test_run_job.py
for the worst case).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from paramedic.api.common import Model, OneOf

#: A Kubernetes resource quantity (``500m``, ``128Mi``, ``1``), as the API server parses it.
QUANTITY_PATTERN = r"^[+]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?$"

Name = Annotated[str, StringConstraints(min_length=1, max_length=253)]
"""The name of an object (Secret, ConfigMap) or of a key in one."""
ShortName = Annotated[str, StringConstraints(min_length=1, max_length=63)]
"""A DNS label: a container's or a volume's name."""
Path = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Argument = Annotated[str, StringConstraints(max_length=1024)]
"""One command-line argument: a longer script belongs in a ConfigMap mounted as a volume."""
Word = Annotated[str, StringConstraints(max_length=256)]
"""An entrypoint word or an environment value."""
Quantity = Annotated[int, Field(ge=0)] | Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN, max_length=32)]

LabelMap = Annotated[
    dict[Annotated[str, StringConstraints(max_length=317)], Annotated[str, StringConstraints(max_length=63)]],
    Field(max_length=8),
]
"""Labels or a node selector: a prefixed key (253 + / + 63) and a label value."""

FileMode = Annotated[int, Field(ge=0, le=0o777)]


class KeyToPath(Model):
    key: Name = Field(description="The key of the ConfigMap or Secret.")
    path: Path = Field(description="The relative path of the file the key is written to.")
    mode: FileMode | None = Field(default=None, description="The file's permission bits (0-0777).")


class ConfigMapFiles(Model):
    name: Name = Field(description="Name of a ConfigMap in the Remediation's namespace.")
    items: list[KeyToPath] | None = Field(
        default=None, max_length=4, description="Only these keys, at these paths; unset: every key."
    )
    optional: bool | None = Field(default=None, description="Start the pod even if the ConfigMap is missing.")
    default_mode: FileMode | None = Field(default=None, description="Permission bits of the files (0-0777).")


class SecretFiles(Model):
    secret_name: Name = Field(description="Name of a Secret in the Remediation's namespace.")
    items: list[KeyToPath] | None = Field(
        default=None, max_length=4, description="Only these keys, at these paths; unset: every key."
    )
    optional: bool | None = Field(default=None, description="Start the pod even if the Secret is missing.")
    default_mode: FileMode | None = Field(default=None, description="Permission bits of the files (0-0777).")


class ProjectedFiles(Model):
    name: Name = Field(description="Name of a ConfigMap or Secret in the Remediation's namespace.")
    items: list[KeyToPath] | None = Field(
        default=None, max_length=4, description="Only these keys, at these paths; unset: every key."
    )
    optional: bool | None = Field(default=None, description="Start the pod even if the object is missing.")


class ProjectionSource(OneOf):
    """One source of a projected volume: a ConfigMap or a Secret (no ServiceAccount token)."""

    one_of = ("configMap", "secret")
    one_of_message = "a projected source sets exactly one of configMap, secret"

    config_map: ProjectedFiles | None = Field(default=None, description="Files from a ConfigMap.")
    secret: ProjectedFiles | None = Field(default=None, description="Files from a Secret.")


class ProjectedVolume(Model):
    sources: list[ProjectionSource] = Field(min_length=1, max_length=2, description="The ConfigMaps and Secrets.")
    default_mode: FileMode | None = Field(default=None, description="Permission bits of the files (0-0777).")


class EmptyDirVolume(Model):
    medium: Literal["", "Memory"] | None = Field(default=None, description="Memory: a tmpfs; empty: the node's disk.")
    size_limit: Quantity | None = Field(default=None, description="The most the directory may hold, e.g. 1Gi.")


_VOLUME_SOURCES = ("configMap", "secret", "emptyDir", "projected")


class Volume(OneOf):
    """A volume of one of the kinds a tenant may mount: ConfigMap, Secret, emptyDir, projected (no hostPath)."""

    one_of = _VOLUME_SOURCES
    one_of_message = "a volume sets exactly one of " + ", ".join(_VOLUME_SOURCES)

    name: ShortName = Field(description="The name volumeMounts refer to.")
    config_map: ConfigMapFiles | None = Field(default=None, description="Files from a ConfigMap.")
    secret: SecretFiles | None = Field(default=None, description="Files from a Secret.")
    empty_dir: EmptyDirVolume | None = Field(default=None, description="A scratch directory that lives with the pod.")
    projected: ProjectedVolume | None = Field(default=None, description="ConfigMaps and Secrets in one directory.")


class KeyRef(Model):
    name: Name = Field(description="Name of the object in the Remediation's namespace.")
    key: Name = Field(description="The key whose value is used.")
    optional: bool | None = Field(default=None, description="Start the container even if the key is missing.")


class EnvVarSource(OneOf):
    """A ConfigMap's or a Secret's key (no field of the pod, no resource of the container)."""

    one_of = ("configMapKeyRef", "secretKeyRef")
    one_of_message = "valueFrom sets exactly one of configMapKeyRef, secretKeyRef"

    config_map_key_ref: KeyRef | None = Field(default=None, description="A key of a ConfigMap.")
    secret_key_ref: KeyRef | None = Field(default=None, description="A key of a Secret.")


class EnvVar(Model):
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="Name of the environment variable."
    )
    value: Word | None = Field(default=None, description="The value; $(VAR) refers to an earlier variable.")
    value_from: EnvVarSource | None = Field(default=None, description="Read the value from a ConfigMap or Secret.")


class ObjectName(Model):
    name: Name = Field(description="Name of the object in the Remediation's namespace.")
    optional: bool | None = Field(default=None, description="Start the container even if it is missing.")


class EnvFromSource(Model):
    prefix: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        default=None, description="Prepended to every key."
    )
    config_map_ref: ObjectName | None = Field(default=None, description="Every key of a ConfigMap.")
    secret_ref: ObjectName | None = Field(default=None, description="Every key of a Secret.")


class ResourceList(Model):
    cpu: Quantity | None = Field(default=None, description="CPU, e.g. 500m.")
    memory: Quantity | None = Field(default=None, description="Memory, e.g. 256Mi.")
    ephemeral_storage: Quantity | None = Field(
        default=None, alias="ephemeral-storage", description="Local scratch space, e.g. 1Gi."
    )


class Resources(Model):
    limits: ResourceList | None = Field(default=None, description="The most the container may use.")
    requests: ResourceList | None = Field(default=None, description="What the scheduler reserves for it.")


class Capabilities(Model):
    drop: list[Annotated[str, StringConstraints(min_length=1, max_length=32)]] | None = Field(
        default=None, max_length=8, description="Linux capabilities to drop, e.g. ALL. None may be added."
    )


class SeccompProfile(Model):
    type: Literal["RuntimeDefault"] = Field(description="RuntimeDefault: the container runtime's default profile.")


class ContainerSecurityContext(Model):
    """What a container may say about its privileges: only to run with fewer."""

    run_as_user: int | None = Field(default=None, ge=0, le=2147483647, description="The UID the process runs as.")
    run_as_group: int | None = Field(default=None, ge=0, le=2147483647, description="The GID the process runs as.")
    run_as_non_root: bool | None = Field(default=None, description="Refuse to start the container as UID 0.")
    read_only_root_filesystem: bool | None = Field(default=None, description="Mount the image read-only.")
    allow_privilege_escalation: Literal[False] | None = Field(
        default=None, description="Only false: no process may gain more privileges than its parent (no setuid)."
    )
    capabilities: Capabilities | None = Field(default=None, description="Capabilities to drop.")
    seccomp_profile: SeccompProfile | None = Field(default=None, description="The seccomp profile.")


class PodSecurityContext(Model):
    run_as_user: int | None = Field(default=None, ge=0, le=2147483647, description="The UID processes run as.")
    run_as_group: int | None = Field(default=None, ge=0, le=2147483647, description="The GID processes run as.")
    run_as_non_root: bool | None = Field(default=None, description="Refuse to start containers as UID 0.")
    fs_group: int | None = Field(default=None, ge=0, le=2147483647, description="The group owning the volumes.")
    seccomp_profile: SeccompProfile | None = Field(default=None, description="The seccomp profile.")


class VolumeMount(Model):
    name: ShortName = Field(description="The volume, from the pod's volumes.")
    mount_path: Path = Field(description="Where it is mounted in the container.")
    sub_path: Path | None = Field(default=None, description="Mount only this path of the volume.")
    read_only: bool | None = Field(default=None, description="Mount it read-only.")


class Container(Model):
    name: ShortName = Field(description="Name of the container.")
    image: Annotated[str, StringConstraints(min_length=1, max_length=256)] = Field(description="The image to run.")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None, description="When the kubelet pulls the image."
    )
    command: list[Word] | None = Field(default=None, max_length=8, description="The entrypoint, replacing the image's.")
    args: list[Argument] | None = Field(default=None, max_length=8, description="Arguments to the entrypoint.")
    working_dir: Path | None = Field(default=None, description="The directory the command starts in.")
    env: list[EnvVar] | None = Field(
        default=None,
        max_length=12,
        description="Environment variables (PARAMEDIC_REMEDIATION and PARAMEDIC_TARGET_* are added).",
    )
    env_from: list[EnvFromSource] | None = Field(
        default=None, max_length=4, description="Environment variables from every key of ConfigMaps or Secrets."
    )
    resources: Resources | None = Field(default=None, description="CPU, memory and scratch space.")
    volume_mounts: list[VolumeMount] | None = Field(default=None, max_length=4, description="Volumes to mount.")
    security_context: ContainerSecurityContext | None = Field(
        default=None, description="Run with fewer privileges (never more)."
    )


class LocalObjectReference(Model):
    name: Name = Field(description="Name of a Secret in the Remediation's namespace.")


class PodSpec(Model):
    """The pod of a tenant's Job. It runs as the namespace's default ServiceAccount, without its token."""

    containers: list[Container] = Field(min_length=1, max_length=2, description="The containers to run.")
    restart_policy: Literal["Never", "OnFailure"] | None = Field(
        default=None, description="Never (the default): a failed container fails the pod."
    )
    active_deadline_seconds: int | None = Field(
        default=None, ge=1, le=86400, description="Fail the pod after this many seconds."
    )
    node_selector: LabelMap | None = Field(default=None, description="Labels the pod's node must carry.")
    security_context: PodSecurityContext | None = Field(default=None, description="Users and groups of the pod.")
    volumes: list[Volume] | None = Field(default=None, max_length=4, description="ConfigMaps, Secrets, scratch space.")
    image_pull_secrets: list[LocalObjectReference] | None = Field(
        default=None, max_length=2, description="Secrets holding registry credentials."
    )


class PodMetadata(Model):
    labels: LabelMap | None = Field(default=None, description="Labels of the pod.")


class PodTemplate(Model):
    metadata: PodMetadata | None = Field(default=None, description="Labels of the pod.")
    spec: PodSpec = Field(description="The pod.")


class JobSpec(Model):
    """The Job of a namespaced Runbook's runJob: a safe subset of batch/v1 JobSpec."""

    template: PodTemplate = Field(description="The pod the Job runs.")
    backoff_limit: int | None = Field(default=None, ge=0, le=10, description="Retries before the Job fails (0).")
    active_deadline_seconds: int | None = Field(
        default=None, ge=1, le=86400, description="Fail the Job after this many seconds."
    )
