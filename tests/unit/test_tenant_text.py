"""Tenant text made harmless: incident templates and Alertmanager matcher patterns. Pure logic."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from paramedic.api.policies import Template
from paramedic.api.runbook import RunbookSpec
from paramedic.api.triggers import LabelMatcher
from paramedic.escalation.render import MAX_OUTPUT, VARIABLES, fill, incident
from paramedic.lint import lint_file
from paramedic.triggers.alertmanager import Payload, match
from paramedic.triggers.matching import Entry
from paramedic.triggers.series import PatternError, compile_matchers, compile_pattern, matches
from paramedic.triggers.watches import compiled

# -- templates ------------------------------------------------------------------------------


def test_format_specs_attributes_and_indexes_stay_literal() -> None:
    values = {"reason": "OOM", "target": "Deployment/shop/api"}
    assert fill("{reason:>600000000}", values) == "{reason:>600000000}"
    assert fill("{reason.__class__} {target[0]} {0} {}", values) == "{reason.__class__} {target[0]} {0} {}"
    assert fill("{reason} on {target}, {typo}", values) == "OOM on Deployment/shop/api, {typo}"
    assert fill("{{reason}}", values) == "{OOM}"  # no escaping either: braces are just text


def test_missing_known_variable_stays_literal() -> None:
    assert fill("{phase}", {}) == "{phase}"


names = st.sampled_from([*VARIABLES, "x", "0", "", "reason:>999999999", "target.__class__", "runbook[0]"])
template_text = st.lists(st.one_of(st.text(max_size=30), names.map(lambda n: "{" + n + "}")), max_size=60).map("".join)


@settings(max_examples=300, deadline=None)
@given(template_text, st.dictionaries(st.sampled_from(VARIABLES), st.text(max_size=5000), max_size=6))
def test_rendering_never_raises_and_is_bounded(text: str, values: dict[str, str]) -> None:
    rendered = fill(text, values)
    assert len(rendered) <= MAX_OUTPUT


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1000, max_size=1000).map(lambda t: "{reason}" * 125 + t))
def test_a_template_full_of_placeholders_is_still_bounded(text: str) -> None:
    assert len(fill(text, {"reason": "r" * 10_000})) <= MAX_OUTPUT


def test_incident_fields_are_bounded() -> None:
    rem = {
        "metadata": {"namespace": "shop", "name": "r1"},
        "spec": {"runbookRef": {"name": "restart"}, "reason": "x" * 100_000},
        "status": {"message": "m" * 100_000},
    }
    hostile = Template(incident="{reason}" * 125, impact="{reason:>600000000}")
    found = incident(hostile, rem, "StepsExhausted", "2026-11-23T12:00:00Z", resolved=False)
    assert all(len(v) <= MAX_OUTPUT for v in found.fields.values())
    assert found.fields["IMPACT"] == "{reason:>600000000}"


def test_template_fields_have_a_max_length() -> None:
    with pytest.raises(ValidationError, match="at most 1000 characters"):
        Template(incident="x" * 1001)
    with pytest.raises(ValidationError, match="at most 2048 characters"):
        Template(console_url="https://" + "x" * 2048)


# -- patterns -------------------------------------------------------------------------------


def test_patterns_are_linear_time() -> None:
    """(.+)+! backtracks exponentially in Python's re; RE2 answers at once."""
    regex = compile_pattern("(.+)+!")
    started = time.monotonic()
    assert regex.fullmatch("a" * 100_000) is None
    assert time.monotonic() - started < 1.0


def test_patterns_match_the_whole_value_like_alertmanager() -> None:
    matcher = compile_matchers([LabelMatcher(name="severity", value="page|critical", is_regex=True)])
    assert matches(matcher, {"severity": "page"})
    assert not matches(matcher, {"severity": "pager"})
    assert not matches(matcher, {"severity": "xcritical"})
    assert matches(compile_matchers([LabelMatcher(name="env", value=".*", is_regex=True)]), {})


def test_patterns_are_compiled_once() -> None:
    compile_pattern.cache_clear()
    compile_pattern("api-.*")
    compile_pattern("api-.*")
    assert compile_pattern.cache_info().misses == 1


@pytest.mark.parametrize("pattern", ["(", "a{1000}{1000}", "(?<!x)a", r"\pL{1000}"])
def test_invalid_patterns_name_the_field(pattern: str) -> None:
    with pytest.raises(PatternError, match=r"^matchers\[1\]\.value: invalid RE2 pattern"):
        compile_matchers(
            [LabelMatcher(name="a", value="b"), LabelMatcher(name="severity", value=pattern, is_regex=True)]
        )


def test_pattern_has_a_max_length() -> None:
    with pytest.raises(ValidationError, match="at most 1024 characters"):
        LabelMatcher(name="x", value="a" * 1025, is_regex=True)


def _entry(name: str, pattern: str) -> Entry:
    spec = RunbookSpec.model_validate(
        {
            "trigger": {
                "alertmanager": {
                    "alertnames": ["Down"],
                    "matchers": [{"name": "service", "value": pattern, "isRegex": True}],
                }
            },
            "steps": [{"rolloutRestart": {}}],
        }
    )
    return Entry("Runbook", name, "shop", spec, *compiled(spec))


def test_an_invalid_pattern_skips_its_runbook_only() -> None:
    good, bad = _entry("good", "api|web"), _entry("bad", "(")
    assert bad.problem.startswith("spec.trigger.alertmanager.matchers[0].value: invalid RE2 pattern")
    assert good.problem == ""
    payload = Payload.model_validate(
        {
            "version": "4",
            "status": "firing",
            "alerts": [{"status": "firing", "labels": {"alertname": "Down", "service": s}} for s in ("api", "db")],
        }
    )
    pairs, skipped = match(payload, [bad, good])
    assert [(a.labels["service"], e.name) for a, e in pairs] == [("api", "good")]
    assert skipped == [f"Runbook/shop/bad is not ready: {bad.problem}"]


def test_lint_rejects_an_invalid_pattern_naming_the_field(tmp_path: Path) -> None:
    file = tmp_path / "rb.yaml"
    file.write_text(
        """
apiVersion: paramedic.dev/v1alpha1
kind: Runbook
metadata: {name: bad}
spec:
  trigger:
    alertmanager:
      alertnames: [Down]
      matchers:
        - {name: env, value: prod}
        - {name: service, value: "(api", isRegex: true}
  steps: [{rolloutRestart: {}}]
"""
    )
    problems = lint_file(file)
    assert [p.field for p in problems] == ["spec.trigger.alertmanager.matchers[1].value"]
    assert "invalid RE2 pattern '(api'" in problems[0].message
    file.write_text(file.read_text().replace('"(api"', '"(api|web)"'))
    assert lint_file(file) == []


def test_an_invalid_pattern_of_a_cluster_runbook_is_reported_too() -> None:
    """A ClusterRunbook (node actions, allowedNamespaces) is read as one when its status is written."""
    from paramedic.triggers.watches import _problem

    bad = [{"name": "n", "value": "(", "isRegex": True}]
    spec = {
        "allowedNamespaces": {},
        "trigger": {"alertmanager": {"alertnames": ["NodeDown"], "matchers": bad}},
        "target": {"kinds": ["Node"]},
        "steps": [{"cordon": {}}],
    }
    assert _problem("clusterrunbooks", spec).startswith("spec.trigger.alertmanager.matchers[0].value: invalid RE2")


def test_the_webhook_matches_off_the_event_loop_under_a_time_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """However long matching takes, the loop stays free (watches, the Lease) and the answer is a 503 in time.
    Proved by order, not by clock: matching waits until the loop has run another task, and the 503 arrives
    before matching ends."""
    from types import SimpleNamespace

    from aiohttp.test_utils import TestClient, TestServer

    from paramedic.triggers import alertmanager

    matching, loop_ran, finished = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def slow_match(payload: Payload, entries: Any) -> tuple[list[Any], list[str]]:
        matching.set()
        seen["loop ran while matching"] = loop_ran.wait(10)  # on the loop, this could never become true
        finished.wait(10)  # blocks until the test has its answer
        return [], []

    monkeypatch.setattr(alertmanager, "match", slow_match)
    dispatcher = SimpleNamespace(runbooks=lambda trigger: [], acting=lambda: True)

    async def token() -> str:
        return "t"

    async def go() -> tuple[int, bool]:
        app = alertmanager.application(dispatcher, token, decide_timeout=0.3)  # type: ignore[arg-type]

        async def other_task() -> None:
            await asyncio.get_running_loop().run_in_executor(None, matching.wait, 10)
            loop_ran.set()  # runs on the loop: only possible if matching does not hold it

        other = asyncio.create_task(other_task())
        async with TestClient(TestServer(app)) as client:
            response = await client.post(
                "/alertmanager",
                json={"version": "4", "status": "firing", "alerts": []},
                headers={"Authorization": "Bearer t"},
            )
            answered_before_matching_ended = not finished.is_set()
            finished.set()
        await other
        return response.status, answered_before_matching_ended

    status, in_time = asyncio.run(go())
    assert status == 503
    assert in_time
    assert seen == {"loop ran while matching": True}
