"""The floor: a bare watch -> patch loop with no operator logic.

It watches every pod in the cluster (as the operator does) with the same
kubernetes client, and when a pod of ``--namespace`` shows a container in
CrashLoopBackOff it patches one annotation on it. Whatever the operator takes
beyond this is the operator's own cost; both are timed by the same outside
watch, on the same machine, in the same run.

    python -m paramedic_dev.bench.floor --kubeconfig K --namespace N
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from kubernetes import client, config
from kubernetes.watch.watch import iter_resp_lines

from .watches import PodEvents


def crash_looping(pod: dict[str, Any]) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return any(((s.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff" for s in statuses)


def serve(core: Any, namespace: str) -> None:
    acted: set[str] = set()

    def handle(pod: dict[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        if meta.get("namespace") != namespace or meta.get("uid") in acted or not crash_looping(pod):
            return
        acted.add(meta["uid"])
        body = {"metadata": {"annotations": {PodEvents.FLOOR_ANNOTATION: f"{time.time():.6f}"}}}
        core.patch_namespaced_pod(meta["name"], namespace, body)

    while True:
        listed = json.loads(core.list_pod_for_all_namespaces(_preload_content=False).data)
        for pod in listed.get("items") or []:
            handle(pod)
        response = core.list_pod_for_all_namespaces(
            watch=True,
            resource_version=listed["metadata"]["resourceVersion"],
            timeout_seconds=3600,
            _preload_content=False,
        )
        print("floor: watching", flush=True)
        for line in iter_resp_lines(response):
            event = json.loads(line)
            if event.get("type") == "ERROR":
                break
            if event.get("type") in ("ADDED", "MODIFIED"):
                handle(event["object"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paramedic_dev.bench.floor", description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True, help="act on crash-looping pods of this namespace only")
    args = parser.parse_args(argv)
    core = client.CoreV1Api(config.new_client_from_config(config_file=args.kubeconfig))
    try:
        serve(core, args.namespace)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
