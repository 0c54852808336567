"""Records: what paramedic leaves behind about what it did.

``status`` writes a Remediation's status (the engine's only state, with
conflict-checked writes); ``events`` posts Kubernetes Events on targets and
Remediations; ``metrics`` holds the Prometheus metrics; ``requests`` counts
the operator's own API requests.
"""
