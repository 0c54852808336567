"""A new leader re-applies an inherited step from its recorded plan (paramedic.fencing): for the actions
whose parameters are relative (scale ``by``, patchHPA ``raiseMaxBy``, raiseMemoryLimit ``factor``) or
time-stamped (rolloutRestart), the write that apply sends must depend on the recorded plan only, never
on the world it finds, so applying the same plan again after the first apply landed changes nothing.

The clients here only record the write apply sends (what it sends is the property under test; the
control-plane tests show the same writes land: test_leader, test_fencing)."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from paramedic.actions import patch_hpa, raise_memory_limit, rollout_restart, scale
from paramedic.actions.base import Context, Plan, Target


class Writes:
    """Stands in for an API group: every call is a write, recorded with its arguments."""

    def __init__(self, sent: list[tuple[str, Any]], answers: dict[str, Any] | None = None) -> None:
        self.sent, self.answers = sent, answers or {}

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if method in self.answers:
                return self.answers[method]
            self.sent.append((method, copy.deepcopy(args)))
            return {}

        return call


def clients(sent: list[tuple[str, Any]]) -> Any:
    no_hpa = {"list_namespaced_horizontal_pod_autoscaler": SimpleNamespace(items=[])}
    return SimpleNamespace(apps=Writes(sent), autoscaling=Writes(sent, no_hpa), plain=lambda obj: obj)


def context(sent: list[tuple[str, Any]], kind: str, obj: dict[str, Any]) -> Context:
    target = Target("apps/v1" if kind != "HorizontalPodAutoscaler" else "autoscaling/v2", kind, "api", "ns", obj)
    return Context(clients(sent), target, "rem", "ns", "uid-1", 0, inherited=True)


def twice(action: Any, params: Any, kind: str, before: dict[str, Any], after: dict[str, Any]) -> list[Any]:
    """Plan on ``before``; apply the recorded plan to ``before`` and again to ``after`` (the world as the
    first apply, or anything else, left it); the writes sent."""
    sent: list[tuple[str, Any]] = []
    plan = action.plan(context([], kind, before), params)
    recorded = Plan(plan.summary, copy.deepcopy(dict(plan.changes)))
    action.apply(context(sent, kind, before), params, recorded)
    action.apply(context(sent, kind, after), params, recorded)
    return sent


def deployment(replicas: int, memory_mi: int = 256) -> dict[str, Any]:
    container = {"name": "app", "resources": {"limits": {"memory": f"{memory_mi}Mi"}}}
    return {
        "metadata": {"name": "api", "namespace": "ns", "uid": "d-1"},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [container]}}},
    }


@given(current=st.integers(0, 50), by=st.integers(-10, 10), found=st.integers(0, 60))
def test_scale_by_sends_the_same_absolute_count_again(current: int, by: int, found: int) -> None:
    params = scale.Params.model_validate({"by": by, "max": 40})
    first, second = twice(scale.ACTION, params, "Deployment", deployment(current), deployment(found))
    assert first == second
    assert first[1][2] == {"spec": {"replicas": max(min(current + by, 40), 0)}}


@given(
    min_replicas=st.integers(1, 5),
    max_replicas=st.integers(5, 30),
    raise_by=st.integers(1, 10),
    found_max=st.integers(1, 60),
)
def test_patch_hpa_raise_max_by_sends_the_same_bounds_again(
    min_replicas: int, max_replicas: int, raise_by: int, found_max: int
) -> None:
    params = patch_hpa.Params.model_validate({"raiseMaxBy": raise_by, "cap": 100})

    def hpa(maximum: int) -> dict[str, Any]:
        return {"metadata": {"name": "api"}, "spec": {"minReplicas": min_replicas, "maxReplicas": maximum}}

    first, second = twice(patch_hpa.ACTION, params, "HorizontalPodAutoscaler", hpa(max_replicas), hpa(found_max))
    assert first == second
    assert first[1][2]["spec"]["maxReplicas"] == max_replicas + raise_by


@given(memory=st.integers(64, 2048), factor=st.floats(1.1, 4.0), found=st.integers(64, 8192))
def test_raise_memory_by_a_factor_sends_the_same_limit_again(memory: int, factor: float, found: int) -> None:
    params = raise_memory_limit.Params.model_validate({"factor": factor, "cap": "16Gi"})
    first, second = twice(raise_memory_limit.ACTION, params, "Deployment", deployment(1, memory), deployment(1, found))
    assert first == second


def test_a_rollout_restart_sends_the_stamp_taken_at_plan_time_again() -> None:
    params = rollout_restart.Params.model_validate({})
    first, second = twice(rollout_restart.ACTION, params, "Deployment", deployment(1), deployment(1))
    assert first == second
    annotations = first[1][2]["spec"]["template"]["metadata"]["annotations"]
    assert annotations[rollout_restart.RESTARTED_BY] == "uid-1/0"
