"""The collectors that reach beyond the API server: PromQL, a Service's HTTP endpoint, AWS describe calls.

PromQL and HTTP go through ``paramedic.outbound`` (the guarded egress the
PromQL triggers and the escalation channels use): every address connected
to is checked after resolution, link-local and cloud metadata addresses are
refused always, redirects are not followed, bodies are read up to a bound.
They run on a private event loop in the gathering's worker thread, never on
the operator's loop.

PromQL uses the collector's url (a ClusterRunbook's: an admin's) or the
operator's own Prometheus settings (--prometheus-url,
--prometheus-ca-file, --outbound-timeout) over that egress rather than the
prometheus-api-client package, which would bring pandas, numpy and
matplotlib into the image and connect through requests, outside the guard.

An HTTP collector names a Service, never a URL. It is reached at a ready
endpoint of the Service (EndpointSlices), else its ClusterIP. For a
namespaced Runbook an endpoint counts only when it is a Pod of the runbook's
own namespace with that very IP, and there is no ClusterIP fallback: a
tenant writes its own EndpointSlices (which kube-proxy follows too), and must
not point the operator at addresses its pods are not.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import json
import math
import os
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from kubernetes.client import DiscoveryV1Api

from paramedic import outbound
from paramedic.api.common import parse_duration
from paramedic.api.evidence import AwsCollector, ClusterHttpCollector, HttpCollector, PromqlCollector
from paramedic.kube import Clients

from .kube import Found, Scope, Unavailable, _json
from .redact import clip

#: Bytes of an HTTP body read at most (the excerpt and the ConfigMap keep less).
HTTP_BODY = 256 * 1024
#: Series kept in a PromQL collector's text.
MAX_SERIES = 50


@dataclasses.dataclass(frozen=True)
class Reach:
    """The operator's settings for outbound evidence."""

    egress: outbound.Egress = dataclasses.field(default_factory=outbound.Egress)
    prometheus_url: str | None = None
    prometheus_ca_file: str | None = None


# -- PromQL -------------------------------------------------------------------------------------


def _labels(metric: dict[str, Any]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "}"


def shape_promql(data: dict[str, Any]) -> Found:
    """Pure: the figures of a query's answer. value: the first series' (latest) value; samples: all samples."""
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list):
        return Found({"value": float(result[1]), "samples": 1}, f"scalar {result[1]}")
    if not isinstance(result, list):
        raise Unavailable(f"unexpected result type {str(kind)[:20]}")
    values: dict[str, Any] = {"samples": 0}
    lines: list[str] = []
    for series in result:
        points = series.get("values") or ([series["value"]] if "value" in series else [])
        values["samples"] += len(points)
        if points and "value" not in values:
            values["value"] = float(points[-1][1])
        if len(lines) < MAX_SERIES:
            shown = " ".join(str(p[1]) for p in points[-30:])
            lines.append(f"{_labels(series.get('metric') or {})} {shown}")
    return Found(values, "\n".join(lines))


async def _promql(reach: Reach, params: PromqlCollector, seconds: float) -> dict[str, Any]:
    url = params.url or reach.prometheus_url
    if not url:
        raise Unavailable("no Prometheus: neither the collector's url nor the operator's --prometheus-url")
    permit = reach.egress.admit(url, trusted=True)  # the admin's flag; link-local and metadata still refused
    query: dict[str, str] = {"query": params.query, "timeout": f"{max(seconds, 0.001):.3f}"}
    path = "/api/v1/query"
    if params.range:
        span = parse_duration(params.range).total_seconds()
        step = parse_duration(params.step).total_seconds() if params.step else max(span / 30, 1.0)
        end = time.time()
        query |= {"start": f"{end - span:.3f}", "end": f"{end:.3f}", "step": f"{step:.3f}"}
        path = "/api/v1/query_range"
    async with (
        outbound.session(reach.egress, reach.prometheus_ca_file) as session,
        outbound.request(
            session, permit, "GET", url.rstrip("/") + path, params=query, timeout=aiohttp.ClientTimeout(total=seconds)
        ) as response,
    ):
        if response.status != 200:
            failed, _ = await outbound.failure(response, url)
            raise Unavailable(failed)
        answer = json.loads(await outbound.read(response))
    if not isinstance(answer, dict) or answer.get("status") != "success" or not isinstance(answer.get("data"), dict):
        raise Unavailable("Prometheus did not answer with success")
    data: dict[str, Any] = answer["data"]
    return data


async def promql(scope: Scope, reach: Reach, params: PromqlCollector) -> Found:
    found = shape_promql(await _promql(reach, params, scope.timeout()))
    text, _ = clip(scope.redactor(found.text), scope.item_bytes)
    return Found(found.values, text)


# -- HTTP ---------------------------------------------------------------------------------------


def address(clients: Clients, namespace: str, service: str, port: int, tenant: bool, seconds: float) -> tuple[str, int]:
    """Where to reach port ``port`` of a Service: a ready endpoint (for a tenant, one that is a Pod of the
    namespace with that IP), else (not for a tenant) its ClusterIP."""
    core = clients.core
    svc = _json(core.read_namespaced_service(service, namespace, _preload_content=False, _request_timeout=seconds))
    spec = svc.get("spec") or {}
    entry = next((p for p in spec.get("ports") or [] if p.get("port") == port), None)
    if entry is None:
        raise Unavailable(f"Service {namespace}/{service} has no port {port}")
    slices = DiscoveryV1Api(clients.api_client).list_namespaced_endpoint_slice(
        namespace,
        label_selector=f"kubernetes.io/service-name={service}",
        _preload_content=False,
        _request_timeout=seconds,
    )
    for item in _json(slices).get("items") or []:
        target_port = next(
            (p.get("port") for p in item.get("ports") or [] if p.get("name", "") == entry.get("name", "")), None
        )
        if target_port is None:
            continue
        for endpoint in item.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for ip in endpoint.get("addresses") or []:
                if not tenant or _is_own_pod(clients, namespace, endpoint.get("targetRef") or {}, ip, seconds):
                    return ip, int(target_port)
    cluster_ip = spec.get("clusterIP")
    if cluster_ip and cluster_ip != "None" and not tenant:  # a tenant's slices could steer a ClusterIP too
        return cluster_ip, port
    raise Unavailable(f"Service {namespace}/{service} has no ready endpoint for port {port}")


def _is_own_pod(clients: Clients, namespace: str, ref: dict[str, Any], ip: str, seconds: float) -> bool:
    if ref.get("kind") != "Pod" or ref.get("namespace", namespace) != namespace or not ref.get("name"):
        return False
    try:
        pod = _json(
            clients.core.read_namespaced_pod(ref["name"], namespace, _preload_content=False, _request_timeout=seconds)
        )
    except Exception:
        return False
    ips = {p.get("ip") for p in (pod.get("status") or {}).get("podIPs") or []} | {
        (pod.get("status") or {}).get("podIP")
    }
    return ip in ips


async def _get(reach: Reach, ip: str, port: int, path: str, seconds: float) -> tuple[int, float, str]:
    host = f"[{ip}]" if ipaddress.ip_address(ip).version == 6 else ip
    url = f"http://{host}:{port}{path}"
    permit = reach.egress.admit(url, trusted=True)  # a Service: cluster-internal by nature; link-local refused
    started = time.monotonic()
    async with (
        outbound.session(reach.egress) as session,
        outbound.request(session, permit, "GET", url, timeout=aiohttp.ClientTimeout(total=seconds)) as response,
    ):
        body = await response.content.read(HTTP_BODY)
        latency = (time.monotonic() - started) * 1000
        return response.status, latency, body.decode(errors="replace")


async def http(scope: Scope, reach: Reach, params: HttpCollector, namespace: str, tenant: bool) -> Found:
    if isinstance(params, ClusterHttpCollector) and params.namespace:
        namespace = params.namespace
    ip, port = address(scope.clients, namespace, params.service, params.port, tenant, scope.timeout())
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        raise Unavailable(f"{ip} is not an IP address") from None
    if refusal := reach.egress.refusal(parsed, outbound.Permit(internal=True)):
        raise outbound.Refused(refusal)
    code, latency, body = await _get(reach, ip, port, params.path, scope.timeout())
    text, _ = clip(scope.redactor(body), scope.item_bytes, keep="head")
    return Found({"statusCode": code, "latencyMs": round(latency, 1), "ok": 200 <= code < 300}, text)


# -- AWS ----------------------------------------------------------------------------------------


def _aws(service: str, seconds: float) -> Any:
    """A client whose calls end within ``seconds`` (rounded up: the gatherer's own deadline is the exact one)."""
    return _aws_client(service, max(1, math.ceil(seconds)), os.environ.get("PARAMEDIC_AWS_ENDPOINT_URL") or None)


@functools.lru_cache(maxsize=16)
def _aws_client(service: str, seconds: int, endpoint: str | None) -> Any:
    """Kept, as the actions' clients are (``actions.aws.client``): a new Session per gathering would resolve
    the credentials again each time (with IRSA, an STS call) and load the service model again. Clients are
    thread-safe; a collector's timeout is at most a minute, so the keys are few."""
    config = BotoConfig(retries={"max_attempts": 2}, connect_timeout=min(seconds, 5), read_timeout=seconds)
    return boto3.session.Session().client(service, endpoint_url=endpoint, config=config)  # type: ignore[call-overload]


#: What an optional AWS call may fail with (a refusal, a network error, an answer that does not parse).
_OPTIONAL = (ClientError, BotoCoreError, ResponseParserError)


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "error"))[:100]
    return type(exc).__name__


def aws(scope: Scope, params: AwsCollector) -> Found:
    seconds = scope.timeout()
    lines: list[str] = []
    if params.rds_instance:
        rds = _aws("rds", seconds)
        db = rds.describe_db_instances(DBInstanceIdentifier=params.rds_instance)["DBInstances"][0]
        lines.append(
            f"RDS {params.rds_instance}: {db.get('DBInstanceStatus')} multiAZ={db.get('MultiAZ')} "
            f"class={db.get('DBInstanceClass')} engine={db.get('Engine')} {db.get('EngineVersion', '')}"
        )
        values: dict[str, Any] = {
            "status": str(db.get("DBInstanceStatus", ""))[:256],
            "multiAZ": bool(db.get("MultiAZ")),
        }
        # Best effort: a role allowed to describe the instance may not be allowed these (nor every
        # AWS-compatible service implement them); their absence leaves pendingMaintenance out.
        try:
            arn = db.get("DBInstanceArn", "")
            pending = rds.describe_pending_maintenance_actions(Filters=[{"Name": "db-instance-id", "Values": [arn]}])
            actions = [
                a
                for r in pending.get("PendingMaintenanceActions", [])
                for a in r.get("PendingMaintenanceActionDetails", [])
            ]
            values["pendingMaintenance"] = len(actions)
            lines += [f"  pending: {a.get('Action')} {a.get('Description', '')}" for a in actions]
        except _OPTIONAL as exc:
            lines.append(f"  pending maintenance unknown: {_code(exc)}")
        try:
            since = datetime.fromtimestamp(datetime.now(UTC).timestamp() - 24 * 3600, UTC)
            recent = rds.describe_events(
                SourceIdentifier=params.rds_instance, SourceType="db-instance", StartTime=since
            ).get("Events", [])
            lines += [f"  {e.get('Date')} {e.get('Message', '')}" for e in recent[-20:]]
        except _OPTIONAL as exc:
            lines.append(f"  recent events unknown: {_code(exc)}")
    else:
        cache = _aws("elasticache", seconds)
        group = cache.describe_replication_groups(ReplicationGroupId=params.elasticache_replication_group)[
            "ReplicationGroups"
        ][0]
        members = group.get("MemberClusters") or []
        lines.append(f"ElastiCache {params.elasticache_replication_group}: {group.get('Status')} members {members}")
        values = {"status": str(group.get("Status", ""))[:256], "members": len(members)}
    text, _ = clip(scope.redactor("\n".join(lines)), scope.item_bytes)
    return Found(values, text)
