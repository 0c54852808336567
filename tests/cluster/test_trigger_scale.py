"""The trigger side under load: prompt at start-up, coalesced Runbook status writes, a quiet log.

Times and writes are observed the way a user would: by watches opened before
the operator acts, on the real API server.
"""

from __future__ import annotations

import math
import re
import threading
import time
from typing import Any

from kubernetes import watch

from paramedic.api.common import GROUP, VERSION
from paramedic.kube import ApiException
from paramedic_dev import simulate
from paramedic_dev.cluster import DevCluster
from tests.cluster.conftest import APPROVER_GROUP
from tests.cluster.test_triggers import pods, remediations
from tests.kit import Kit
from tests.waiting import wait_until

#: Kopf's per-event success lines of the trigger handlers (they used to be one per watched pod event).
PER_EVENT = re.compile(r"Handler '[^']*(pod_event|node_event|hpa_event|runbook_event|_index)' succeeded")


def held(paramedic: Kit, app: str, min_restarts: int = 1) -> dict[str, Any]:
    """A crash-loop runbook whose Remediations wait for approval: nothing acts, only the trigger is observed.
    Its own RateLimitPolicy: Remediations held open must not fill the shared default policy's in-flight bound
    for the tests that follow (they stay open until the namespace is gone)."""
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RateLimitPolicy",
        "metadata": {"name": "held"},
        "spec": {
            "windows": [{"max": 1000, "per": "1h"}],
            "cooldown": "0s",
            "maxInFlight": {"max": 1000, "scope": "Runbook"},
            "stormBreaker": {"enabled": False},
        },
    }
    try:
        paramedic.clients.custom.create_namespaced_custom_object(
            GROUP, VERSION, paramedic.namespace, "ratelimitpolicies", body
        )
    except ApiException as exc:
        if exc.status != 409:  # 409: made by an earlier call in this namespace
            raise
    return {
        "rateLimitPolicyRef": {"name": "held"},
        "trigger": {"podCrashLoop": {"minRestarts": min_restarts}},
        "target": {"selector": {"matchLabels": {"app": app}}},
        "requiresApproval": True,
        "approvers": {"groups": [APPROVER_GROUP]},
        "steps": [{"deletePod": {}}],
    }


class Recorder(threading.Thread):
    """Every event of a paramedic resource in one namespace, with the time it was received."""

    def __init__(self, paramedic: Kit, plural: str) -> None:
        super().__init__(daemon=True)
        self.paramedic, self.plural = paramedic, plural
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.opened = threading.Event()
        self.watch = watch.Watch()

    def run(self) -> None:
        custom = self.paramedic.clients.custom
        resource_version = custom.list_namespaced_custom_object(GROUP, VERSION, self.paramedic.namespace, self.plural)[
            "metadata"
        ]["resourceVersion"]
        self.opened.set()
        try:
            for event in self.watch.stream(
                custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                self.paramedic.namespace,
                self.plural,
                resource_version=resource_version,
                timeout_seconds=120,
            ):
                self.events.append((time.monotonic(), event["type"], event["object"]))
        except Exception:  # the namespace going away at the end of the test
            return

    def __enter__(self) -> Recorder:
        self.start()
        assert self.opened.wait(30)
        return self

    def __exit__(self, *_: object) -> None:
        self.watch.stop()

    def first(self, what: str, test: Any) -> float:
        def seen() -> float | None:
            return next((at for at, kind, obj in list(self.events) if test(kind, obj)), None)

        return wait_until(seen, 60, what)


def test_a_crash_loop_that_predates_the_operator_is_acted_on_within_a_second_of_arming(paramedic: Kit) -> None:
    paramedic.deploy("api", replicas=1)
    victim = pods(paramedic, "api")[0].metadata.name
    paramedic.operator.kill()
    simulate.make_crashloop(paramedic.clients.core, paramedic.namespace, victim, restarts=4)
    runbook = paramedic.runbook(held(paramedic, "api"), name="early")  # not armed: no operator is running
    with Recorder(paramedic, "runbooks") as runbooks, Recorder(paramedic, "remediations") as made:
        paramedic.operator.start_and_wait()
        armed = runbooks.first("the runbook armed", lambda k, o: (o.get("status") or {}).get("triggerKind"))
        acted = made.first("its Remediation", lambda k, o: k == "ADDED")
    assert acted - armed <= 1.0, f"acted {acted - armed:.2f}s after the runbook was armed"
    (rem,) = remediations(paramedic, runbook)
    assert rem["spec"]["target"]["name"] == victim


def test_a_storm_writes_the_runbook_status_a_bounded_number_of_times_and_logs_one_line_per_fire(
    paramedic: Kit,
) -> None:
    storm = 8
    paramedic.deploy("api", replicas=storm)
    paramedic.deploy("probe", replicas=1)
    runbook = paramedic.runbook(held(paramedic, "api"), name="storm")
    probe = paramedic.runbook(held(paramedic, "probe"), name="probe")
    rb_path = (GROUP, VERSION, paramedic.namespace, "runbooks")
    wait_until(
        lambda: all(
            (paramedic.clients.custom.get_namespaced_custom_object(*rb_path, name).get("status") or {}).get(
                "triggerKind"
            )
            for name in (runbook, probe)
        ),
        30,
        "both runbooks armed",
    )
    log = paramedic.operator.log
    offset = log.stat().st_size
    core, ns = paramedic.clients.core, paramedic.namespace

    with Recorder(paramedic, "runbooks") as runbooks:
        started = time.monotonic()
        for pod in pods(paramedic, "api"):
            simulate.make_crashloop(core, ns, pod.metadata.name, restarts=2)

        def counted() -> bool:
            status = paramedic.clients.custom.get_namespaced_custom_object(*rb_path, runbook).get("status") or {}
            return status.get("fireCount") == storm

        wait_until(counted, 60, f"fireCount {storm}")
        elapsed = time.monotonic() - started
    assert len(remediations(paramedic, runbook)) == storm
    writes = [
        (o.get("status") or {}).get("fireCount")
        for _, kind, o in runbooks.events
        if kind == "MODIFIED" and o["metadata"]["name"] == runbook
    ]
    # A lone fire is written at once, then at most one write per 5 s interval; counts never go backwards.
    assert len(writes) <= 2 + math.ceil(elapsed / 5), (writes, elapsed)
    assert writes == sorted(writes), writes
    assert writes[-1] == storm

    text = log.read_bytes()[offset:].decode(errors="replace")
    assert not PER_EVENT.search(text), PER_EVENT.search(text)
    assert len(re.findall(rf"trigger Runbook/{ns}/{runbook} fired", text)) == storm

    # A restart writes nothing to a runbook whose status is right (probed by a fire of another runbook).
    before = paramedic.clients.custom.get_namespaced_custom_object(*rb_path, runbook)["metadata"]["resourceVersion"]
    paramedic.operator.kill()
    paramedic.operator.start_and_wait()
    simulate.make_crashloop(core, ns, pods(paramedic, "probe")[0].metadata.name, restarts=2)
    wait_until(lambda: remediations(paramedic, probe), 30, "the probe's Remediation")
    after = paramedic.clients.custom.get_namespaced_custom_object(*rb_path, runbook)["metadata"]["resourceVersion"]
    assert after == before


def test_the_pod_stream_recovers_from_an_api_server_restart(paramedic: Kit, cluster: DevCluster) -> None:
    paramedic.deploy("api", replicas=1)
    runbook = paramedic.runbook(held(paramedic, "api"), name="after-restart")
    rb_path = (GROUP, VERSION, paramedic.namespace, "runbooks", runbook)
    wait_until(
        lambda: (paramedic.clients.custom.get_namespaced_custom_object(*rb_path).get("status") or {}).get(
            "triggerKind"
        ),
        30,
        "the runbook armed",
    )
    cluster.restart_apiserver()
    # The crash starts after the restart: only a watch that came back (or a fresh listing) can see it.
    simulate.make_crashloop(paramedic.clients.core, paramedic.namespace, pods(paramedic, "api")[0].metadata.name)
    wait_until(lambda: remediations(paramedic, runbook), 60, "a Remediation after the restart")
