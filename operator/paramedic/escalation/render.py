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
import string
from collections.abc import Mapping
from typing import Any

from paramedic.api.policies import Template

FIELDS = ("INCIDENT", "STATUS", "IMPACT", "START TIME (UTC)", "SERVICES", "UPDATE", "ETA")


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(text: str, values: Mapping[str, str]) -> str:
    """str.format with unknown placeholders left as they are (a typo must not lose the page)."""
    return string.Formatter().vformat(text, (), _Blank(values))


@dataclasses.dataclass(frozen=True)
class Incident:
    fields: dict[str, str]
    links: dict[str, str]
    steps: list[str]
    resolved: bool

    @property
    def text(self) -> str:
        lines = [f"{name}: {self.fields[name]}" for name in FIELDS]
        lines += [f"{name}: {link}" for name, link in self.links.items()]
        if self.steps:
            lines.append("STEPS:")
            lines += [f"  {s}" for s in self.steps]
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
    values = {
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
        "UPDATE": status.get("message") or reason,
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
    return Incident(fields, links, steps, resolved)
