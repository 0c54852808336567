"""From a set of labels (a Prometheus series, an Alertmanager alert) to a
Remediation target, and the label matchers alerts are filtered with.

Matcher patterns come from tenants' Runbooks and are matched against every
webhook alert, so they go through RE2 (linear time, bounded memory), never
Python's backtracking ``re``: ``(.+)+!`` would otherwise take exponential
time. A pattern is compiled once (cached by its text), when the runbook is
indexed; an invalid one is a problem of that runbook alone.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping

import re2

from paramedic.api.common import ObjectRef
from paramedic.api.triggers import LabelMatcher, TargetLabels
from paramedic.kube.kinds import api_version


def target_from(labels: Mapping[str, str], how: TargetLabels) -> ObjectRef | str:
    """The target the labels name, or the reason they name none."""
    name = labels.get(how.name)
    if not name:
        return f"no {how.name!r} label"
    if how.kind == "Node":
        return ObjectRef(api_version="v1", kind="Node", name=name)
    namespace = labels.get(how.namespace)
    if not namespace:
        return f"no {how.namespace!r} label"
    return ObjectRef(api_version=api_version(how.kind), kind=how.kind, name=name, namespace=namespace)


#: RE2's memory budget per pattern: a pattern needing more is refused when compiled.
PATTERN_MEMORY = 1 << 20


class PatternError(ValueError):
    """An invalid (or too large) RE2 pattern; the message names the problem."""


@functools.lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> re2._Regexp[str]:
    """Alertmanager's semantics: the pattern is anchored at both ends (``^(?:pattern)$``)."""
    options = re2.Options()
    options.log_errors = False
    options.max_mem = PATTERN_MEMORY
    try:
        return re2.compile(f"^(?:{pattern})$", options)
    except re2.error as exc:
        detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(f"invalid RE2 pattern {pattern[:100]!r}: {detail}") from None


@dataclasses.dataclass(frozen=True)
class Matcher:
    """A label matcher ready to use: the pattern compiled, the test a plain function."""

    name: str
    test: Callable[[str], bool]
    is_equal: bool


def _search(regex: re2._Regexp[str], value: str) -> bool:
    return regex.fullmatch(value) is not None


def compile_matchers(matchers: list[LabelMatcher], field: str = "matchers") -> tuple[Matcher, ...]:
    """Compile every matcher; PatternError names the first invalid one's field."""
    compiled = []
    for i, m in enumerate(matchers):
        if m.is_regex:
            try:
                regex = compile_pattern(m.value)
            except PatternError as exc:
                raise PatternError(f"{field}[{i}].value: {exc}") from None
            compiled.append(Matcher(m.name, functools.partial(_search, regex), m.is_equal))
        else:
            compiled.append(Matcher(m.name, m.value.__eq__, m.is_equal))
    return tuple(compiled)


def matches(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    """Alertmanager's matcher semantics: a regex matches the whole value; a missing label is ''."""
    return all(m.test(labels.get(m.name, "")) == m.is_equal for m in matchers)
