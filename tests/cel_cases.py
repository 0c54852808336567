"""One counter-example for every CEL rule of the CRDs: the API server and
`paramedic lint` must both reject it, naming the same field.

tests/unit/test_cel_rules.py checks that every rule in the generated CRDs is
broken by at least one case here (a new rule without a case fails) and that
lint rejects each; tests/cluster/test_crds.py sends each to the API server.
"""

from __future__ import annotations

from typing import Any

import pytest

STEP = {"rolloutRestart": {}}
LONG_KEY = "k" * 318
FAN = {"kinds": ["Deployment"], "selector": {"matchLabels": {"app": "x"}}}


def _job(pod: dict[str, Any]) -> dict[str, Any]:
    container = {"name": "c", "image": "registry.invalid/c:1"}
    return {"runJob": {"template": {"spec": {"template": {"spec": {"containers": [container], **pod}}}}}}


def _resources(requests: dict[str, Any]) -> dict[str, Any]:
    container = {"name": "c", "image": "registry.invalid/c:1", "resources": {"requests": requests}}
    return {"runJob": {"template": {"spec": {"template": {"spec": {"containers": [container]}}}}}}


#: (kind, spec, the field both name, a fragment of the message)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("Runbook", {"requiresApproval": True, "steps": [STEP]}, "spec.approvers", "approvers must name who may approve"),
    ("Runbook", {"approvers": {}, "steps": [STEP]}, "spec.approvers", "approvers name at least one user or group"),
    ("Runbook", {"steps": [{"drain": {}}]}, "spec.steps", "need a ClusterRunbook"),
    ("Runbook", {"target": {"namespaces": {}}, "steps": [STEP]}, "spec.target.namespaces", "only for ClusterRunbooks"),
    (
        "Runbook",
        {"trigger": {"nodeNotReady": {}}, "steps": [STEP]},
        "spec.trigger.nodeNotReady",
        "needs a ClusterRunbook",
    ),
    ("Runbook", {"trigger": {"manual": {}, "podCrashLoop": {}}, "steps": [STEP]}, "spec.trigger", "exactly one of"),
    (
        "Runbook",
        {"target": {"selector": {"matchLabels": {LONG_KEY: "v"}}}, "steps": [STEP]},
        "spec.target.selector.matchLabels",
        "at most 317",
    ),
    ("Runbook", {"steps": [{**STEP, "deletePod": {}}]}, "spec.steps[0]", "a step sets exactly one action"),
    (
        "Runbook",
        {"steps": [{**STEP, "fanOut": FAN, "target": {"kind": "Deployment", "name": "x"}}]},
        "spec.steps[0].fanOut",
        "fanOut or target, not both",
    ),
    (
        "Runbook",
        {"steps": [{**STEP, "fanOut": {**FAN, "maxConcurrency": 0}}]},
        "spec.steps[0].fanOut.maxConcurrency",
        "must be at least 1",
    ),
    (
        "ClusterRunbook",
        {"target": {"kinds": ["Node"]}, "steps": [{"cordon": {}, "fanOut": FAN}]},
        "spec.steps[0].fanOut",
        "fanOut works only with",
    ),
    ("Runbook", {"silence": {"ttl": "1m"}, "steps": [STEP]}, "spec.silence", "fromTrigger: true or at least one"),
    ("Runbook", {"steps": [{"scale": {"replicas": 3, "by": 1}}]}, "spec.steps[0].scale", "exactly one of replicas"),
    ("Runbook", {"steps": [{"scale": {"by": 1, "min": 5, "max": 2}}]}, "spec.steps[0].scale.min", "must not exceed"),
    ("Runbook", {"steps": [{"patchHPA": {"cap": 5}}]}, "spec.steps[0].patchHPA", "needs minReplicas, maxReplicas"),
    (
        "Runbook",
        {"steps": [{"patchHPA": {"cap": 5, "maxReplicas": 3, "raiseMaxBy": 1}}]},
        "spec.steps[0].patchHPA.raiseMaxBy",
        "not both",
    ),
    (
        "Runbook",
        {"steps": [_job({"volumes": [{"name": "v", "emptyDir": {}, "secret": {"secretName": "s"}}]})]},
        "spec.steps[0].runJob.template.spec.template.spec.volumes[0]",
        "a volume sets exactly one of",
    ),
    (
        "Runbook",
        {"steps": [_job({"volumes": [{"name": "v", "projected": {"sources": [{}]}}]})]},
        "spec.steps[0].runJob.template.spec.template.spec.volumes[0].projected.sources[0]",
        "a projected source sets exactly one of",
    ),
    (
        "Runbook",
        {"steps": [_job({"containers": [{"name": "c", "image": "i", "env": [{"name": "E", "valueFrom": {}}]}]})]},
        "spec.steps[0].runJob.template.spec.template.spec.containers[0].env[0].valueFrom",
        "valueFrom sets exactly one of",
    ),
    (
        "Runbook",
        {"steps": [_resources({"cpu": -1})]},
        "spec.steps[0].runJob.template.spec.template.spec.containers[0].resources.requests.cpu",
        "must be at least 0",
    ),
    (
        "Runbook",
        {"steps": [{"rolloutRestart": {}, "target": {"kind": "Node", "name": "n", "namespace": "default"}}]},
        "spec.steps[0].target.namespace",
        "must be empty for a Node",
    ),
    (
        "ClusterRunbook",
        {"steps": [{"eksScaleNodegroup": {"clusterName": "c", "nodegroupName": "n", "maxDesired": 3}}]},
        "spec.steps[0].eksScaleNodegroup",
        "exactly one of desiredSize or by",
    ),
    ("ClusterRunbook", {"steps": [{"drain": {}}]}, "spec.target.kinds", "need Node in target.kinds"),
    (
        "Remediation",
        {"runbookRef": {"name": "r"}, "target": {"kind": "Pod", "name": "p"}, "approved": True},
        "spec.approvedBy",
        "must name who approves",
    ),
    (
        "Remediation",
        {"runbookRef": {"name": "r"}, "target": {"kind": "Pod", "name": "p"}, "resolved": True},
        "spec.resolvedBy",
        "must name who resolves",
    ),
    (
        "RateLimitPolicy",
        {"freezeWindows": [{"name": "w", "start": "2026-01-01T00:00:00Z"}]},
        "spec.freezeWindows[0]",
        "either start+end or days+from+to",
    ),
    (
        # 10:00+02:00 is 08:00Z: read as text the end looks later, as times it is earlier.
        "RateLimitPolicy",
        {"freezeWindows": [{"start": "2026-01-01T10:00:00+02:00", "end": "2026-01-01T09:00:00+03:00"}]},
        "spec.freezeWindows[0].end",
        "end must be after start",
    ),
    (
        "RateLimitPolicy",
        {"freezeWindows": [{"days": ["Fri"], "from": "22:00", "to": "22:00"}]},
        "spec.freezeWindows[0].to",
        "from and to must differ",
    ),
    (
        "RateLimitPolicy",
        {"freezeWindows": [{"cron": "0 22 * * 5"}]},
        "spec.freezeWindows[0].duration",
        "cron and duration go together",
    ),
    (
        "RateLimitPolicy",
        {"freezeWindows": [{"cron": "0 22 * * 5", "duration": "0s"}]},
        "spec.freezeWindows[0].duration",
        "must be longer than 0s",
    ),
    (
        "RateLimitPolicy",
        {"freezeWindows": [{"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z", "timeZone": "UTC"}]},
        "spec.freezeWindows[0].timeZone",
        "timeZone applies to weekly",
    ),
    (
        "EscalationPolicy",
        {"levels": [{"name": "l", "channels": [{"name": "c"}]}]},
        "spec.levels[0].channels[0]",
        "exactly one of webhook, slack, pagerduty",
    ),
    # The breach-response actions and applyManifest (issue #17).
    (
        "Runbook",
        {"steps": [{"scale": {"replicas": 0, "restoreFrom": "stop"}}]},
        "spec.steps[0].scale",
        "or restoreFrom (a step)",
    ),
    ("Runbook", {"steps": [{"isolate": {"mode": "AllowList"}}]}, "spec.steps[0].isolate.allow", "isolate.allow lists"),
    (
        "Runbook",
        {"steps": [{"isolate": {"blockCidrs": ["203.0.113.0/24"]}}]},
        "spec.steps[0].isolate.blockCidrs",
        "isolate.blockCidrs lists",
    ),
    (
        "Runbook",
        {
            "steps": [
                {
                    "isolate": {
                        "mode": "AllowList",
                        "allow": [{"direction": "Ingress", "podSelector": {}, "cidr": "10.0.0.0/8"}],
                    }
                }
            ]
        },
        "spec.steps[0].isolate.allow[0].cidr",
        "a peer is podSelector or cidr",
    ),
    ("Runbook", {"steps": [{"restartConsumersOf": {}}]}, "spec.steps[0].restartConsumersOf", "exactly one of secret"),
    (
        "ClusterRunbook",
        {"steps": [{"applyManifest": {"configMap": "known-good", "key": "k", "kinds": ["Ingress", "ClusterRole"]}}]},
        "spec.steps[0].applyManifest.kinds",
        "never names RBAC",
    ),
    # evidence (issue 16)
    (
        "Runbook",
        {"evidence": [{"name": "a", "logs": {}, "events": {}}], "steps": [STEP]},
        "spec.evidence[0]",
        "a collector sets exactly one of logs, events, summary, http",
    ),
    (
        "ClusterRunbook",
        {"evidence": [{"name": "a"}], "steps": [STEP]},
        "spec.evidence[0]",
        "a collector sets exactly one of logs, events, summary, http, promql, aws",
    ),
    (
        "ClusterRunbook",
        {"evidence": [{"name": "a", "aws": {}}], "steps": [STEP]},
        "spec.evidence[0].aws",
        "aws names exactly one of",
    ),
    (
        "Runbook",
        {"evidence": [{"name": "a", "events": {}}], "steps": [{**STEP, "collect": ["b"]}]},
        "spec.steps",
        "a step's collect names collectors declared",
    ),
]

PARAMS = pytest.mark.parametrize(
    ("kind", "spec", "field", "message"), CASES, ids=[f"{c[0]}:{c[2]}:{c[3][:24]}" for c in CASES]
)
