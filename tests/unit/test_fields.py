"""Fields of the field audit (tests/field_audit.py) that no earlier test exercised, shown doing what their
descriptions say: pure logic, no cluster. The ``probe_*`` functions check what the description of a field
found doing nothing promises; tests/unit/test_field_audit.py runs them as strict xfails."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from paramedic.actions.base import Context, Target
from paramedic.api.common import ObjectRef
from paramedic.api.params import TenantRunJobParams as TenantParams
from paramedic.api.policies import Channel, LedgerEntry, RateLimitPolicySpec, Template
from paramedic.api.runbook import ClusterRunbookSpec, RunbookSpec
from paramedic.api.triggers import TargetLabels
from paramedic.escalation.channels import request
from paramedic.escalation.render import incident
from paramedic.policy.access import LoadedRunbook
from paramedic.policy.gate import Gate
from paramedic.policy.ratelimit import Candidate, decide
from paramedic.triggers.matching import Entry, evaluate
from paramedic.triggers.series import target_from
from paramedic.triggers.symptoms import hpa_symptoms, node_symptoms, pod_symptoms
from tests.tenant_jobs import allowed_step

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def stamp(ago: timedelta) -> str:
    return (NOW - ago).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod(phase: str, containers: list[dict[str, Any]] | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "api-7d9f-abcde",
            "namespace": "shop",
            "uid": "u1",
            "labels": {"app": "api"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "api-7d9f", "controller": True}],
        },
        "status": {"phase": phase, "containerStatuses": containers or [], **status},
    }


def _fires(trigger: dict[str, Any], symptoms: list[Any], kind: str = "Runbook") -> bool:
    model = ClusterRunbookSpec if kind == "ClusterRunbook" else RunbookSpec
    spec: dict[str, Any] = {"trigger": trigger, "steps": [{"rolloutRestart": {}}]}
    if kind == "ClusterRunbook":
        spec["target"] = {"kinds": ["Node"]}
        spec["steps"] = [{"cordon": {}}]
    entry = Entry(kind, "rb", "shop" if kind == "Runbook" else None, model.model_validate(spec))
    results = [evaluate(entry, s, NOW, lambda ns: {}, "paramedic-system") for s in symptoms]
    return any(r is not None for r in results)


# -- triggers ------------------------------------------------------------------------------------------------


def _waiting(container: str, reason: str, restarts: int = 5) -> dict[str, Any]:
    return {
        "name": container,
        "restartCount": restarts,
        "state": {"waiting": {"reason": reason}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
    }


def test_crash_loop_reasons_and_containers_narrow_it() -> None:
    """podCrashLoop.reasons: only these waiting reasons count; podCrashLoop.containers: only these containers."""
    image_pull = pod_symptoms(_pod("Pending", [_waiting("app", "ImagePullBackOff")]))
    crash_sidecar = pod_symptoms(_pod("Running", [_waiting("sidecar", "CrashLoopBackOff")]))
    crash_app = pod_symptoms(_pod("Running", [_waiting("app", "CrashLoopBackOff")]))

    assert not _fires({"podCrashLoop": {"minRestarts": 1}}, image_pull)  # the default reasons
    assert _fires({"podCrashLoop": {"minRestarts": 1, "reasons": ["ImagePullBackOff"]}}, image_pull)
    assert not _fires({"podCrashLoop": {"minRestarts": 1, "reasons": ["ImagePullBackOff"]}}, crash_app)

    only_app = {"podCrashLoop": {"minRestarts": 1, "containers": ["app"]}}
    assert _fires(only_app, crash_app)
    assert not _fires(only_app, crash_sidecar)
    assert _fires({"podCrashLoop": {"minRestarts": 1, "containers": []}}, crash_sidecar)  # empty means any


def _oom(container: str, ago: timedelta) -> dict[str, Any]:
    return {
        "name": container,
        "restartCount": 1,
        "state": {"running": {}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": stamp(ago)}},
    }


def test_oom_kill_containers_and_within() -> None:
    """podOOMKilled.within: only kills that ended this recently; podOOMKilled.containers: only these."""
    two_hours = pod_symptoms(_pod("Running", [_oom("app", timedelta(hours=2))]))
    assert not _fires({"podOOMKilled": {"within": "1h"}}, two_hours)
    assert _fires({"podOOMKilled": {"within": "3h"}}, two_hours)

    sidecar = pod_symptoms(_pod("Running", [_oom("sidecar", timedelta(minutes=1))]))
    assert _fires({"podOOMKilled": {}}, sidecar)
    assert not _fires({"podOOMKilled": {"containers": ["app"]}}, sidecar)
    assert _fires({"podOOMKilled": {"containers": ["sidecar"]}}, sidecar)


def test_pending_reasons_narrow_it() -> None:
    """podPending.reasons: PodScheduled reasons that count."""
    condition = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "SchedulingGated",
        "lastTransitionTime": stamp(timedelta(hours=1)),
    }
    gated = pod_symptoms(_pod("Pending", conditions=[condition]))
    assert not _fires({"podPending": {"for": "1m"}}, gated)  # the default: Unschedulable
    assert _fires({"podPending": {"for": "1m", "reasons": ["SchedulingGated"]}}, gated)


def test_node_not_ready_and_hpa_at_max_wait_their_for() -> None:
    """nodeNotReady.for and hpaAtMax.for: the condition must have held this long."""

    def node(ago: timedelta) -> list[Any]:
        ready = {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "lastTransitionTime": stamp(ago)}
        return node_symptoms({"metadata": {"name": "n1", "uid": "n"}, "status": {"conditions": [ready]}})

    assert not _fires({"nodeNotReady": {"for": "5m"}}, node(timedelta(minutes=4)), kind="ClusterRunbook")
    assert _fires({"nodeNotReady": {"for": "5m"}}, node(timedelta(minutes=6)), kind="ClusterRunbook")
    assert _fires({"nodeNotReady": {"for": "1m"}}, node(timedelta(minutes=4)), kind="ClusterRunbook")

    hpa = {"metadata": {"name": "h", "namespace": "shop"}, "spec": {"maxReplicas": 5}, "status": {"currentReplicas": 5}}
    at_max_since = hpa_symptoms(hpa, first_seen=NOW - timedelta(minutes=3))
    assert not _fires({"hpaAtMax": {"for": "10m"}}, at_max_since)
    assert _fires({"hpaAtMax": {"for": "2m"}}, at_max_since)


def test_target_labels_name_the_target_as_configured() -> None:
    """targetLabels (prometheus and alertmanager): kind, and the labels holding name and namespace."""
    how = TargetLabels.model_validate({"kind": "StatefulSet", "name": "statefulset", "namespace": "exported_ns"})
    labels = {"statefulset": "pg", "exported_ns": "db", "namespace": "monitoring", "deployment": "other"}
    ref = target_from(labels, how)
    assert isinstance(ref, ObjectRef)
    assert (ref.api_version, ref.kind, ref.namespace, ref.name) == ("apps/v1", "StatefulSet", "db", "pg")
    assert target_from({"statefulset": "pg"}, how) == "no 'exported_ns' label"
    node = target_from({"instance": "n1"}, TargetLabels.model_validate({"kind": "Node", "name": "instance"}))
    assert isinstance(node, ObjectRef)
    assert (node.kind, node.name, node.namespace) == ("Node", "n1", None)


def test_prometheus_interval_spaces_the_evaluations(monkeypatch: pytest.MonkeyPatch) -> None:
    """prometheus.interval: how often the query is evaluated."""
    from paramedic.triggers import prometheus

    spec = RunbookSpec.model_validate(
        {"trigger": {"prometheus": {"query": "up == 0", "interval": "10s"}}, "steps": [{"rolloutRestart": {}}]}
    )
    entry = Entry("Runbook", "rb", "shop", spec)
    dispatcher = SimpleNamespace(
        runbooks=lambda kind: [entry], operator_namespace="paramedic-system", acting=lambda: True
    )
    poller = prometheus.Poller(dispatcher, None)  # type: ignore[arg-type]
    clock = [1000.0]
    evaluated: list[float] = []

    async def evaluate(_: Entry) -> None:
        evaluated.append(clock[0])

    monkeypatch.setattr(poller, "evaluate", evaluate)
    monkeypatch.setattr(prometheus, "time", SimpleNamespace(monotonic=lambda: clock[0]))

    async def run() -> None:
        for second in range(31):
            clock[0] = 1000.0 + second
            await poller.tick()
            await asyncio.sleep(0)

    asyncio.run(run())
    assert evaluated == [1000.0, 1010.0, 1020.0, 1030.0]


# -- rate limits ---------------------------------------------------------------------------------------------


def _policy(**fields: Any) -> RateLimitPolicySpec:
    return RateLimitPolicySpec.model_validate(
        {"cooldown": "0s", "maxInFlight": None, "stormBreaker": {"enabled": False}, **fields}
    )


def _running(i: int, target: str, namespace: str, runbook: str = "Runbook/ns/rb") -> LedgerEntry:
    return LedgerEntry(
        remediation=f"{namespace}/rem-{i}",
        runbook=runbook,
        target=target,
        namespace=namespace,
        admitted_at=stamp(timedelta(minutes=1)),
    )


def test_in_flight_is_counted_per_scope() -> None:
    """maxInFlight.scope: what the concurrency bound counts per."""
    candidate = Candidate("ns/rem-new", "Runbook/ns/rb", "Pod/ns/p9", "ns")
    elsewhere = [_running(1, "Pod/other/p1", "other", "Runbook/other/rb2")]
    same_namespace = [_running(1, "Pod/ns/p1", "ns", "Runbook/ns/rb2")]
    for scope, ledger, admitted in [
        ("Cluster", elsewhere, False),
        ("Namespace", elsewhere, True),
        ("Namespace", same_namespace, False),
        ("Runbook", same_namespace, True),
    ]:
        decision = decide(
            _policy(maxInFlight={"max": 1, "scope": scope}), ledger, candidate, NOW, failing=1, targets=10
        )
        assert decision.admitted is admitted, (scope, decision)
        if not admitted:
            assert decision.reason == "MaxInFlight"


def test_storm_breaker_trips_by_count() -> None:
    """stormBreaker.maxFailing: also trip when more than this many targets fail, whatever the share."""
    candidate = Candidate("ns/rem-new", "Runbook/ns/rb", "Pod/ns/p9", "ns")
    breaker = {"maxFailingPercent": 100, "maxFailing": 2, "minTargets": 1000}
    assert decide(_policy(stormBreaker=breaker), [], candidate, NOW, failing=2, targets=10).admitted
    tripped = decide(_policy(stormBreaker=breaker), [], candidate, NOW, failing=3, targets=10)
    assert tripped.reason == "StormBreaker"
    assert tripped.escalate


def test_storm_breaker_counts_failures_within_its_window() -> None:
    """stormBreaker.window: automatic Remediations created within it count together, older ones do not."""
    from paramedic.policy.gate import _Waiting
    from paramedic.policy.ratelimit import Candidate
    from tests.unit.test_views import indexed, remediation

    now = datetime.now(UTC)

    def ago(minutes: int) -> str:
        return (now - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")

    gate = Gate(SimpleNamespace(), "paramedic-system", clock=lambda: now)  # type: ignore[arg-type]
    gate.remediations = indexed(*(remediation(f"r{m}", ago(m)) for m in (1, 3, 8, 30)))
    gate.targets = SimpleNamespace(count=lambda target, selector: 7)  # type: ignore[assignment]
    runbook = LoadedRunbook("Runbook", "rb", 1, RunbookSpec.model_validate({"steps": [{"deletePod": {}}]}))
    target = ObjectRef(api_version="v1", kind="Pod", name="p", namespace="ns")
    waiting = _Waiting(Candidate("ns/r0", "Runbook/ns/rb", "Pod/ns/p", "ns"), runbook, target)
    for window, failing in [("2m", 1), ("5m", 2), ("10m", 3), ("1h", 4)]:
        spec = _policy(stormBreaker={"enabled": True, "window": window})
        candidate = gate._storm(waiting, spec, now, {})
        assert (candidate.failing, candidate.targets) == (failing, 7), window


# -- escalation ----------------------------------------------------------------------------------------------

_REMEDIATION = {
    "metadata": {"namespace": "shop", "name": "r1", "uid": "u1"},
    "spec": {"runbookRef": {"kind": "Runbook", "name": "restart"}, "reason": "P1"},
    "status": {"targetSummary": "Deployment/shop/api", "message": "step 1 failed"},
}


def test_incident_eta_and_console_links() -> None:
    """template.eta is the ETA line; template.consoleUrl is the base of the links (kubectl commands otherwise)."""
    template = Template.model_validate({"eta": "{target} back within 15 minutes", "consoleUrl": "https://k8s.example/"})
    sent = incident(template, _REMEDIATION, "StepsExhausted", "2026-11-23T12:00:00Z", resolved=False)
    assert sent.fields["ETA"] == "Deployment/shop/api back within 15 minutes"
    assert sent.links == {
        "RUNBOOK": "https://k8s.example/runbooks/restart",
        "REMEDIATION": "https://k8s.example/namespaces/shop/remediations/r1",
    }
    plain = incident(Template(), _REMEDIATION, "StepsExhausted", "2026-11-23T12:00:00Z", resolved=False)
    assert plain.links["REMEDIATION"] == "kubectl get remediation -n shop r1 -o yaml"


def test_every_channel_names_the_level() -> None:
    """levels[].name is what the webhook and PagerDuty messages call the level that sent them."""
    sent = incident(Template(), _REMEDIATION, "StepsExhausted", "2026-11-23T12:00:00Z", resolved=False)
    webhook = Channel.model_validate({"name": "a", "webhook": {"name": "s", "key": "k"}})
    pagerduty = Channel.model_validate({"name": "b", "pagerduty": {"name": "s", "key": "k"}})
    assert request(webhook, "http://hook.example", sent, "u1", "platform lead")[1]["level"] == "platform lead"
    details = request(pagerduty, "KEY", sent, "u1", "platform lead")[1]["payload"]["custom_details"]
    assert details["level"] == "platform lead"


# -- runJob --------------------------------------------------------------------------------------------------


def test_run_job_volume_items_modes_and_requests_reach_the_job() -> None:
    """The runJob fields that allowed_step() leaves out also reach the Job exactly as written."""
    step = allowed_step()
    pod = step["runJob"]["template"]["spec"]["template"]["spec"]
    pod["containers"][0]["resources"]["requests"] = {"cpu": "100m", "memory": "64Mi", "ephemeral-storage": "1Gi"}
    items = [{"key": "a", "path": "a.txt", "mode": 0o400}]
    pod["volumes"] = [
        {"name": "conf", "configMap": {"name": "c", "defaultMode": 0o440, "items": items}},
        {"name": "creds", "secret": {"secretName": "s", "items": items}},
        {"name": "both", "projected": {"sources": [{"configMap": {"name": "c", "items": items}}]}},
    ]
    params = RunbookSpec.model_validate({"steps": [step]}).steps[0].params
    assert isinstance(params, TenantParams)
    assert params.job_spec() == step["runJob"]["template"]["spec"]


# -- a step's free-text reason ------------------------------------------------------------------------------


def _context(target: Target, history: tuple[dict[str, Any], ...] = ()) -> Context:
    return Context(
        clients=None,  # type: ignore[arg-type]
        target=target,
        remediation_name="r1",
        remediation_namespace="shop",
        remediation_uid="u1",
        step_index=len(history),
        history=history,
    )


_NODE = Target(
    "v1", "Node", "n1", None, {"metadata": {"name": "n1"}, "spec": {"providerID": "aws:///us-east-1a/i-0abc"}}
)
_DEPLOYMENT = Target("apps/v1", "Deployment", "api", "shop", {"metadata": {"name": "api"}, "spec": {}})
_DRAINED = ({"action": "drain", "phase": "Succeeded", "target": {"kind": "Node", "name": "n1"}},)


@pytest.mark.parametrize(
    ("action", "target", "history"),
    [
        ("rolloutRestart", _DEPLOYMENT, ()),
        ("cordon", _NODE, ()),
        ("uncordon", _NODE, ()),
        ("ec2TerminateNodeInstance", _NODE, _DRAINED),
    ],
)
def test_a_steps_reason_is_kept_in_its_history(
    action: str, target: Target, history: tuple[dict[str, Any], ...]
) -> None:
    """rolloutRestart/cordon/uncordon/ec2TerminateNodeInstance.reason: "free text kept in the step's history":
    in the plan (status.steps[].plan) and the changes the step records."""
    from paramedic.actions import REGISTRY

    spec = ClusterRunbookSpec.model_validate(
        {"target": {"kinds": ["Node"]}, "steps": [{action: {"reason": "ticket OPS-42"}}]}
    )
    step = spec.steps[0]
    plan = REGISTRY[step.action].plan(_context(target, history), step.params)
    assert plan.summary.endswith("(reason: ticket OPS-42)")
    assert plan.changes["reason"] == "ticket OPS-42"
    without = ClusterRunbookSpec.model_validate({"target": {"kinds": ["Node"]}, "steps": [{action: {}}]}).steps[0]
    assert "reason" not in REGISTRY[action].plan(_context(target, history), without.params).changes
