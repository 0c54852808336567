"""Pure parts of the tenant rules: the snapshot seal, prerequisites that a
dry run cannot satisfy, and the node-kinds rule offline."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from paramedic.actions import ec2_terminate_node_instance, rds_reboot
from paramedic.actions.base import Context, Target
from paramedic.api.remediation import TriggerRecord, bounded_evidence
from paramedic.engine import snapshot
from paramedic.lint import lint_document

KEY = b"k" * 32
SPEC: dict[str, Any] = {"steps": [{"rolloutRestart": {}}], "mode": "AllInOrder"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


def test_the_seal_holds_for_the_snapshot_it_was_made_for() -> None:
    digest = snapshot.seal(KEY, "uid-1", "Runbook", "rb", SPEC)
    assert snapshot.intact(KEY, "uid-1", "Runbook", "rb", {"mode": "AllInOrder", **SPEC}, digest)  # key order
    assert not snapshot.intact(KEY, "uid-2", "Runbook", "rb", SPEC, digest)  # another Remediation's
    assert not snapshot.intact(KEY, "uid-1", "ClusterRunbook", "rb", SPEC, digest)
    assert not snapshot.intact(b"x" * 32, "uid-1", "Runbook", "rb", SPEC, digest)  # forged without the key
    assert not snapshot.intact(KEY, "uid-1", "Runbook", "rb", SPEC, "")
    # What the API server gives back: 2.0 written, 2 read.
    written = snapshot.seal(KEY, "uid-1", "Runbook", "rb", {"steps": [{"raiseMemoryLimit": {"factor": 2.0}}]})
    assert snapshot.intact(KEY, "uid-1", "Runbook", "rb", {"steps": [{"raiseMemoryLimit": {"factor": 2}}]}, written)


@given(json_values)
def test_any_change_to_the_snapshot_breaks_the_seal(extra: Any) -> None:
    digest = snapshot.seal(KEY, "uid", "Runbook", "rb", SPEC)
    changed = {**SPEC, "steps": [*SPEC["steps"], {"scale": extra}]}
    assert not snapshot.intact(KEY, "uid", "Runbook", "rb", changed, digest)


def _ctx(history: list[dict[str, Any]], dry_run: bool) -> Context:
    node = Target("v1", "Node", "n1", None, {"metadata": {"name": "n1"}})
    return Context(None, node, "rem", "ns", "uid", len(history), tuple(history), dry_run=dry_run)  # type: ignore[arg-type]


def test_a_dry_run_step_stands_in_for_a_prerequisite_only_in_a_dry_run() -> None:
    snapshot_step = {"action": "rdsSnapshot", "phase": "DryRun", "changes": {"dbInstance": "db"}}
    drain_step = {"action": "drain", "phase": "DryRun", "target": {"kind": "Node", "name": "n1"}}
    assert rds_reboot.snapshot_taken(_ctx([snapshot_step], dry_run=True), "db")
    assert not rds_reboot.snapshot_taken(_ctx([snapshot_step], dry_run=False), "db")
    assert ec2_terminate_node_instance.drained(_ctx([drain_step], dry_run=True))
    assert not ec2_terminate_node_instance.drained(_ctx([drain_step], dry_run=False))
    done = {**drain_step, "phase": "Succeeded"}
    assert ec2_terminate_node_instance.drained(_ctx([done], dry_run=False))


def test_lint_wants_node_in_kinds_for_node_actions() -> None:
    doc = {
        "apiVersion": "paramedic.dev/v1alpha1",
        "kind": "ClusterRunbook",
        "metadata": {"name": "drains"},
        "spec": {"target": {"kinds": ["Pod"]}, "steps": [{"cordon": {}}, {"drain": {}}]},
    }
    problems = lint_document("f.yaml", 0, doc)
    assert [(p.field, p.message.split(":")[0]) for p in problems] == [
        (
            "spec.target.kinds",
            "node actions (cordon, uncordon, drain, ec2TerminateNodeInstance) need Node in target.kinds, so that "
            "target.selector is checked on the node acted on",
        )
    ]
    doc["spec"]["target"]["kinds"] = ["Pod", "Node"]
    assert lint_document("f.yaml", 0, doc) == []


@given(st.dictionaries(st.text(max_size=400), st.text(max_size=3000), max_size=100))
def test_any_trigger_evidence_is_cut_to_what_the_schema_admits(evidence: dict[str, str]) -> None:
    """Alert labels are the sender's to choose; the Remediation the trigger creates must still be valid."""
    kept = bounded_evidence(evidence)
    TriggerRecord(kind="alertmanager", evidence=kept)  # raises if anything is over the bounds
    assert len(kept) == min(len(evidence), 64)
    assert all(evidence[k][:1024] == v for k, v in kept.items() if k in evidence)
