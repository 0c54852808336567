"""Evidence collectors: what a runbook looks at before acting, bounded and redacted.

``redact`` removes secrets and clips text to byte caps; ``kube`` reads the
target's pods' logs, Events and state; ``remote`` queries Prometheus, GETs a
Service and describes AWS resources; ``gather`` runs a gathering's
collectors with a timeout each (off the event loop), stores the fuller text
in a ConfigMap owned by the Remediation and returns the records the engine
writes to its status. See docs/evidence.md.
"""
