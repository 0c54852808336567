"""/metrics shows what the operator did, in Prometheus' text format."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from paramedic.api.common import GROUP, VERSION
from paramedic_dev import simulate
from tests.cluster.test_triggers import one_remediation, pods
from tests.kit import Kit
from tests.waiting import wait_until


def samples(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(port: int, name: str, **labels: str) -> float:
    return samples(port).get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_remediations_actions_and_triggers(paramedic: Kit, metrics_port: int) -> None:
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook({"steps": [{"scale": {"replicas": 2}}]}, name="scale-api")
    paramedic.wait_phase(
        paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}), "Succeeded"
    )
    wait_until(
        lambda: (
            value(
                metrics_port, "paramedic_remediations_total", runbook="scale-api", phase="Succeeded", reason="Succeeded"
            )
            == 1
        ),
        10,
        "the remediation counter",
    )
    assert value(metrics_port, "paramedic_action_duration_seconds_count", action="scale", outcome="Succeeded") >= 1
    assert value(metrics_port, "paramedic_leader") == 1

    crashing = paramedic.runbook(
        {
            "trigger": {"podCrashLoop": {"minRestarts": 1}},
            "target": {"kinds": ["Deployment"]},
            "steps": [{"rolloutRestart": {}}],
        },
        name="restart-api",
    )
    before = value(metrics_port, "paramedic_detect_to_act_seconds_count", trigger="podCrashLoop")
    simulate.make_crashloop(
        paramedic.clients.core, paramedic.namespace, pods(paramedic, "api")[0].metadata.name, restarts=2
    )
    paramedic.wait_phase(one_remediation(paramedic, crashing)["metadata"]["name"], "Succeeded")
    assert value(metrics_port, "paramedic_triggers_fired_total", trigger="podCrashLoop") >= 1
    assert value(metrics_port, "paramedic_detect_to_act_seconds_count", trigger="podCrashLoop") == before + 1


def test_oldest_running_shows_a_remediation_waiting_and_clears_when_it_ends(paramedic: Kit, metrics_port: int) -> None:
    """The stuck-Remediation alert's gauge: a Remediation waiting for an approval nobody gives ages in it."""
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook(
        {"requiresApproval": True, "approvers": {"groups": ["nobody"]}, "steps": [{"scale": {"replicas": 2}}]}
    )
    rem = paramedic.remediation(runbook, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"})
    paramedic.wait_phase(rem, "AwaitingApproval")
    first = wait_until(
        lambda: value(metrics_port, "paramedic_remediation_oldest_running_seconds") or None, 10, "a running age"
    )
    wait_until(
        lambda: value(metrics_port, "paramedic_remediation_oldest_running_seconds") > first, 10, "the age to grow"
    )
    paramedic.clients.custom.delete_namespaced_custom_object(GROUP, VERSION, paramedic.namespace, "remediations", rem)
    wait_until(lambda: value(metrics_port, "paramedic_remediation_oldest_running_seconds") == 0, 30, "the age to clear")
