"""kubectl drain's pod filters, as plain logic."""

from __future__ import annotations

from typing import Any

from paramedic.actions.drain import MIRROR, Params, classify


def pod(name: str, owner: str | None = "ReplicaSet", **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": "o", "controller": True}]
    meta.update(extra.pop("metadata", {}))
    return {"metadata": meta, "spec": extra.pop("spec", {}), "status": extra.pop("status", {"phase": "Running"})}


def test_daemonset_and_mirror_pods_are_skipped() -> None:
    evict, skipped, refused = classify(
        [pod("ds", owner="DaemonSet"), pod("static", owner=None, metadata={"annotations": {MIRROR: "x"}}), pod("web")],
        Params(),
    )
    assert evict == ["ns/web"]
    assert skipped == {"ns/ds": "DaemonSet pod", "ns/static": "mirror pod"}
    assert refused == {}


def test_unmanaged_and_emptydir_pods_are_refused_unless_allowed() -> None:
    pods = [pod("bare", owner=None), pod("scratch", spec={"volumes": [{"name": "tmp", "emptyDir": {}}]})]
    _, _, refused = classify(pods, Params())
    assert set(refused) == {"ns/bare", "ns/scratch"}
    evict, _, refused = classify(pods, Params(force=True, delete_empty_dir_data=True))
    assert sorted(evict) == ["ns/bare", "ns/scratch"]
    assert refused == {}


def test_finished_and_terminating_pods() -> None:
    evict, _, refused = classify(
        [
            pod("done", owner=None, status={"phase": "Succeeded"}),
            pod("leaving", metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"}),
        ],
        Params(),
    )
    assert evict == ["ns/done"]
    assert refused == {}
