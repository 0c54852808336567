"""The incident message, in the seed runbooks' format. Pure logic.

INCIDENT: ...
STATUS: ...
IMPACT: ...
START TIME (UTC): ...
SERVICES: ...
UPDATE: ...
ETA: ...
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from paramedic.api.policies import Template

from . import evidence as found

FIELDS = ("INCIDENT", "STATUS", "IMPACT", "START TIME (UTC)", "SERVICES", "UPDATE", "ETA")

#: The only names a template may use. Templates come from tenants (a namespaced EscalationPolicy),
#: so they get plain substitution, never ``str.format``: a format spec such as ``{reason:>600000000}``
#: would allocate 600 MB, and ``{x.__class__}`` would walk attributes.
VARIABLES = ("runbook", "target", "remediation", "namespace", "reason", "phase", "evidence")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(VARIABLES) + r")\}")
#: A substituted value, and a rendered field, are cut to these lengths (the schema bounds the template).
MAX_VALUE = 512
MAX_OUTPUT = 2048


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fill(text: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}`` for the known names; everything else (specs, typos, braces) stays literal.

    The output is bounded whatever the input: at most MAX_OUTPUT characters. Never raises."""
    text = text[:MAX_OUTPUT]  # the schema already bounds it; a stored object from before the bound is cut here
    rendered = _PLACEHOLDER.sub(lambda m: _cut(str(values.get(m.group(1), m.group(0))), MAX_VALUE), text)
    return _cut(rendered, MAX_OUTPUT)


@dataclasses.dataclass(frozen=True)
class Incident:
    fields: dict[str, str]
    links: dict[str, str]
    steps: list[str]
    resolved: bool
    #: The latest record of each evidence collector, compact and bounded (``evidence.compact``).
    evidence: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def text(self) -> str:
        lines = [f"{name}: {self.fields[name]}" for name in FIELDS]
        lines += [f"{name}: {link}" for name, link in self.links.items()]
        if self.steps:
            lines.append("STEPS:")
            lines += [f"  {s}" for s in self.steps]
        if self.evidence:
            lines.append("EVIDENCE:")
            lines += [f"  {line}" for line in found.lines(self.evidence)]
        return "\n".join(lines)

    @property
    def summary(self) -> str:
        return f"[{self.fields['STATUS']}] {self.fields['INCIDENT']}"


def incident(
    template: Template, remediation: Mapping[str, Any], reason: str, started_at: str, resolved: bool
) -> Incident:
    meta, spec, status = remediation["metadata"], remediation.get("spec") or {}, remediation.get("status") or {}
    target = status.get("targetSummary") or str(spec.get("target", {}).get("name", ""))
    runbook = (spec.get("runbookRef") or {}).get("name", "")
    evidence = found.latest(status)
    values = {
        "evidence": found.summary(evidence, MAX_VALUE),
        "runbook": runbook,
        "target": target,
        "remediation": f"{meta['namespace']}/{meta['name']}",
        "namespace": meta["namespace"],
        "reason": spec.get("reason") or reason,
        "phase": status.get("phase", ""),
    }
    state = "RESOLVED" if resolved else f"ESCALATED ({reason})"
    fields = {
        "INCIDENT": fill(template.incident, values),
        "STATUS": state,
        "IMPACT": fill(template.impact, values),
        "START TIME (UTC)": started_at,
        "SERVICES": fill(template.services, values),
        "UPDATE": _cut(str(status.get("message") or reason), MAX_OUTPUT),
        "ETA": "resolved" if resolved else fill(template.eta, values),
    }
    kind = (spec.get("runbookRef") or {}).get("kind", "Runbook")
    if template.console_url:
        base = template.console_url.rstrip("/")
        links = {
            "RUNBOOK": f"{base}/{kind.lower()}s/{runbook}",
            "REMEDIATION": f"{base}/namespaces/{meta['namespace']}/remediations/{meta['name']}",
        }
    else:
        namespace_flag = f" -n {meta['namespace']}" if kind == "Runbook" else ""
        links = {
            "RUNBOOK": f"kubectl get {kind.lower()}{namespace_flag} {runbook} -o yaml",
            "REMEDIATION": f"kubectl get remediation -n {meta['namespace']} {meta['name']} -o yaml",
        }
    steps = [
        f"{s.get('index', 0) + 1}. {s.get('name') or s.get('action')}: {s.get('phase')} - {s.get('message', '')}"
        for s in status.get("steps") or []
    ]
    return Incident(fields, links, steps, resolved, evidence)
