"""From a set of labels (a Prometheus series, an Alertmanager alert) to a
Remediation target, and the label matchers alerts are filtered with."""

from __future__ import annotations

import re
from collections.abc import Mapping

from paramedic.api.common import ObjectRef
from paramedic.api.triggers import LabelMatcher, TargetLabels

_API = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Pod": "v1", "Node": "v1"}


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
    return ObjectRef(api_version=_API[how.kind], kind=how.kind, name=name, namespace=namespace)


def matches(matchers: list[LabelMatcher], labels: Mapping[str, str]) -> bool:
    """Alertmanager's matcher semantics: a regex matches the whole value; a missing label is ''."""
    for m in matchers:
        value = labels.get(m.name, "")
        hit = re.fullmatch(m.value, value) is not None if m.is_regex else value == m.value
        if hit != m.is_equal:
            return False
    return True
