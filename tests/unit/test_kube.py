"""The ground floor's pure parts: the kinds table, the conflict loop, durations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes import client

from paramedic.kube import ApiException, Clients
from paramedic.kube.conflicts import ATTEMPTS, Conflict, retry_on_conflict
from paramedic.kube.durations import parse_duration
from paramedic.kube.kinds import KINDS, api_version

_GROUPS = {
    "core": client.CoreV1Api,
    "apps": client.AppsV1Api,
    "autoscaling": client.AutoscalingV2Api,
    "batch": client.BatchV1Api,
    "custom": client.CustomObjectsApi,
}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_names_methods_the_client_has(name: str) -> None:
    """A typo in the table (a snake name, a group) would only show at the first call on a cluster."""
    kind = KINDS[name]
    api = _GROUPS[kind.group]
    assert kind.group in vars(Clients)  # the attribute Kind reads the typed API group from
    if kind.custom:
        assert kind.api_version == "paramedic.dev/v1alpha1"
        return
    scope = "namespaced_" if kind.namespaced else ""
    for verb in ("read", "patch", "delete"):
        assert callable(getattr(api, f"{verb}_{scope}{kind.snake}"))
    assert callable(getattr(api, f"list_{scope}{kind.snake}"))
    if kind.namespaced:
        assert callable(getattr(api, f"list_{kind.snake}_for_all_namespaces"))


def test_api_versions_of_the_kinds_triggers_and_targets_use() -> None:
    assert [api_version(k) for k in ("Pod", "Node", "Deployment", "HorizontalPodAutoscaler", "Job")] == [
        "v1",
        "v1",
        "apps/v1",
        "autoscaling/v2",
        "batch/v1",
    ]


def test_the_crds_plurals_are_the_tables() -> None:
    from paramedic.api.resources import RESOURCES

    for resource in RESOURCES:
        assert KINDS[resource.kind].plural == resource.plural
        assert KINDS[resource.kind].namespaced == resource.namespaced


def _conflict() -> ApiException:
    return ApiException(status=409, reason="Conflict")


def test_a_conflict_is_retried_until_the_write_goes_through() -> None:
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _conflict() if len(calls) == 1 else Conflict("stale read")
        return "written"

    assert retry_on_conflict(attempt) == "written"
    assert len(calls) == 3


def test_conflicts_every_round_raise_the_last_one_after_the_bound() -> None:
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        raise _conflict()

    with pytest.raises(ApiException) as raised:
        retry_on_conflict(attempt)
    assert raised.value.status == 409
    assert len(calls) == ATTEMPTS


def test_any_other_error_is_raised_at_once() -> None:
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        raise ApiException(status=403, reason="Forbidden")

    with pytest.raises(ApiException):
        retry_on_conflict(attempt)
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25), ("1.5h", 5400), ("0s", 0), ("2h0m0.5s", 7200.5)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "1d", "-5m", "5 m", "m5", "1h30"])
def test_what_the_crd_pattern_refuses_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@settings(deadline=None)  # the machine is shared and noisy: no timing in tests
@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(["ms", "s", "m", "h"])), min_size=1, max_size=4))
def test_a_duration_is_the_sum_of_its_parts(parts: list[tuple[int, str]]) -> None:
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    text = "".join(f"{n}{unit}" for n, unit in parts)
    expected = timedelta(seconds=sum(n * scale[unit] for n, unit in parts))
    assert abs(parse_duration(text) - expected) < timedelta(microseconds=2)
