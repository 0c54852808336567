"""One look at a step's verification: its check, and its PromQL condition (``verify.promql``) when it has one.

Both must hold; the engine polls them together until they have held for
``stableFor`` or the verification times out (``decide.verified``), so a
PromQL condition is waited on exactly like the rollout, pods and node
checks, and a timeout fails the step as theirs do.

The query goes to the runbook's own Prometheus when its trigger is a
prometheus trigger (that trigger's url and bearerToken, held to the same
allow-list), else to the operator's ``--prometheus-url``: the client is the
triggers' (``triggers.prometheus.Poller.instant_blocking``), handed to the
engine by the composition root, so the URL rules, TLS, token and timeouts are
the same ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from paramedic.actions import checks
from paramedic.actions.base import Action, Context, Plan
from paramedic.api.remediation import RemediationSpec
from paramedic.api.runbook import RunbookSpec, Step
from paramedic.api.triggers import Prometheus

PROMQL = checks.PROMQL


class Querier(Protocol):
    """The operator's Prometheus client, from a pool thread: ``source`` is the runbook's prometheus trigger (its
    url and token), if any; ``trusted``: an admin's runbook (its url needs no allow-list entry); ``namespace``:
    where its token Secret is read."""

    def __call__(
        self, query: str, source: Prometheus | None, trusted: bool, namespace: str
    ) -> Sequence[dict[str, Any]]: ...


def instant_for(
    querier: Querier | None,
    rem: Mapping[str, Any],
    spec: RemediationSpec,
    runbook: RunbookSpec,
    operator_namespace: str,
) -> checks.Instant | None:
    """The query function for this Remediation's runbook (None: the operator has no Prometheus client)."""
    if querier is None:
        return None
    cluster = spec.runbook_ref.kind == "ClusterRunbook"
    home = operator_namespace if cluster else rem["metadata"]["namespace"]
    source = runbook.trigger.prometheus
    trusted = cluster or home == operator_namespace

    def instant(query: str) -> Sequence[dict[str, Any]]:
        return querier(query, source, trusted, home)

    return instant


def label(check: str, step: Step) -> str:
    """How the verification is named in the step's messages."""
    if check != PROMQL and step.verify is not None and step.verify.promql:
        return f"{check} and {PROMQL}"
    return check


def look(
    action: Action[Any], ctx: Context, step: Step, plan: Plan, check: str, instant: checks.Instant | None
) -> tuple[bool, str]:
    """Whether the step's verification holds now, and what was seen. The PromQL condition is asked only once
    the check holds (no query while a rollout is still going)."""
    query = step.verify.promql if step.verify is not None else None
    if check == PROMQL:
        assert query is not None
        return checks.promql(query, instant)
    ok, detail = action.verify(ctx, step.params, plan, check)
    if query is None:
        return ok, detail
    if not ok:
        return False, f"{detail}; PromQL not asked yet"
    held, seen = checks.promql(query, instant)
    return held, f"{detail}; PromQL: {seen}"
