"""The commands that talk to a cluster (approve, history, plan) and how they pick it: the kubeconfig's
context (``--context`` or the current one) and its namespace, as kubectl does. Errors the user can fix are
raised as UserError (printed as one line, exit code 2)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


class UserError(Exception):
    """Something the user can fix: printed as one line, exit code 2."""


def _clients(args: argparse.Namespace) -> Any:
    """Clients of the chosen context (in-cluster when run in a pod without a kubeconfig or context),
    and ``args.namespace`` filled in from it when ``-n`` was not given."""
    if args.kubeconfig:
        # Before the kubernetes client is imported: it reads $KUBECONFIG once, at import.
        os.environ["KUBECONFIG"] = args.kubeconfig
    from kubernetes import config

    from paramedic.kube import Clients

    # The context first: an unknown one is named as such, not as a kubeconfig the client cannot load.
    namespace = _context_namespace(args.kubeconfig, args.context)
    if args.namespace is None:
        args.namespace = namespace
    try:
        if args.context is None:
            return Clients.from_environment(args.kubeconfig)
        return Clients(config.new_client_from_config(config_file=args.kubeconfig, context=args.context))
    except (config.ConfigException, OSError) as exc:
        raise UserError(f"no usable kubeconfig: {exc}") from None


def _context_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace of the kubeconfig's context (``--context`` or the current one), as kubectl uses it;
    in a pod without a kubeconfig, the pod's own; else ``default``."""
    from kubernetes import config

    try:
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
    except (config.ConfigException, OSError):
        try:
            with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
                return f.read().strip() or "default"
        except OSError:
            return "default"
    chosen = next((c for c in contexts if c["name"] == context), None) if context else current
    if chosen is None:
        raise UserError(f"no context {context!r} in the kubeconfig")
    return str((chosen.get("context") or {}).get("namespace") or "default")


def complete_namespaces(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """Shell completion of -n: the cluster's namespaces (none when it cannot be asked)."""
    try:
        clients = _clients(parsed_args)
        items = clients.core.list_namespace(_request_timeout=5).items
    except Exception:  # a completion offers nothing rather than an error in the shell
        return []
    return [n.metadata.name for n in items if n.metadata.name.startswith(prefix)]


def complete_awaiting_approval(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """Shell completion of approve's NAME: the namespace's Remediations that wait for an approval."""
    from paramedic.api.common import GROUP, VERSION

    try:
        clients = _clients(parsed_args)
        items = clients.custom.list_namespaced_custom_object(
            GROUP, VERSION, parsed_args.namespace, "remediations", _request_timeout=5
        )["items"]
    except Exception:  # as above
        return []
    return [
        r["metadata"]["name"]
        for r in items
        if (r.get("status") or {}).get("phase") == "AwaitingApproval" and r["metadata"]["name"].startswith(prefix)
    ]


def _api_error(what: str, exc: Any) -> UserError:
    return UserError(f"{what}: {exc.status} {exc.reason}: {_why(exc)}")


def approve(args: argparse.Namespace) -> int:
    from paramedic.api.common import GROUP, VERSION
    from paramedic.kube import ApiException

    clients = _clients(args)
    try:
        # The admission policy accepts only the caller's own name; ask the API server what that is.
        me = clients.whoami()
        clients.custom.patch_namespaced_custom_object(
            GROUP, VERSION, args.namespace, "remediations", args.name, {"spec": {"approved": True, "approvedBy": me}}
        )
    except ApiException as exc:
        raise _api_error(f"cannot approve {args.namespace}/{args.name}", exc) from None
    print(f"remediation {args.namespace}/{args.name} approved by {me}")
    return 0


def _why(exc: Any) -> str:
    """The API server's message (which names the field and the rule), not just its status line."""
    import json

    try:
        return str(json.loads(exc.body or "{}").get("message", ""))
    except ValueError:
        return str(exc.body or "")


def history(args: argparse.Namespace) -> int:
    import json

    from paramedic.api.common import GROUP, VERSION
    from paramedic.kube import ApiException, parse_time

    clients = _clients(args)
    if getattr(args, "name", None):
        return _one(clients, args)
    try:
        if args.all_namespaces:
            items = clients.custom.list_cluster_custom_object(GROUP, VERSION, "remediations")["items"]
        else:
            items = clients.custom.list_namespaced_custom_object(GROUP, VERSION, args.namespace, "remediations")[
                "items"
            ]
    except ApiException as exc:
        where = "every namespace" if args.all_namespaces else f"namespace {args.namespace}"
        raise _api_error(f"cannot list Remediations in {where}", exc) from None
    rows = []
    for rem in sorted(items, key=lambda r: r["metadata"]["creationTimestamp"], reverse=True)[: args.limit]:
        status = rem.get("status") or {}
        started, finished = status.get("startedAt"), status.get("finishedAt")
        seconds = (parse_time(finished) - parse_time(started)).total_seconds() if started and finished else None
        rows.append(
            {
                "namespace": rem["metadata"]["namespace"],
                "name": rem["metadata"]["name"],
                "runbook": (rem["spec"].get("runbookRef") or {}).get("name", ""),
                "target": status.get("targetSummary", ""),
                "trigger": (rem["spec"].get("trigger") or {}).get("kind", "manual"),
                "phase": status.get("phase", "Pending"),
                "started": started or "",
                "duration": seconds,
                "message": status.get("message", ""),
            }
        )
    if args.output == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if args.output == "yaml":
        import yaml

        print(yaml.safe_dump(rows, sort_keys=False), end="")
        return 0
    header = ("NAMESPACE", "NAME", "RUNBOOK", "TARGET", "TRIGGER", "PHASE", "STARTED", "DURATION")
    table = [header] + [
        (
            r["namespace"],
            r["name"],
            r["runbook"],
            r["target"],
            r["trigger"],
            r["phase"],
            r["started"],
            "-" if r["duration"] is None else f"{r['duration']:.0f}s",
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        print("   ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _one(clients: Any, args: argparse.Namespace) -> int:
    """One Remediation's record: its outcome, each step (a skipped one with the values its condition saw), and
    the evidence found (the latest record of each collector, figures and excerpt), as stored (redacted)."""
    import json

    from paramedic.api.common import GROUP, VERSION
    from paramedic.escalation import evidence
    from paramedic.kube import ApiException

    try:
        rem = clients.custom.get_namespaced_custom_object(GROUP, VERSION, args.namespace, "remediations", args.name)
    except ApiException as exc:
        raise _api_error(f"cannot read Remediation {args.namespace}/{args.name}", exc) from None
    status = rem.get("status") or {}
    record = {
        "namespace": args.namespace,
        "name": args.name,
        "runbook": (rem["spec"].get("runbookRef") or {}).get("name", ""),
        "target": status.get("targetSummary", ""),
        "trigger": (rem["spec"].get("trigger") or {}).get("kind", "manual"),
        "phase": status.get("phase", "Pending"),
        "message": status.get("message", ""),
        "steps": [
            {
                k: s.get(k)
                for k in ("index", "name", "action", "phase", "reason", "message", "targets")
                if s.get(k) not in (None, [])
            }
            for s in status.get("steps") or []
        ],
        "evidence": [evidence.compact(r) for r in status.get("evidence") or [] if isinstance(r, dict)],
    }
    if args.output in ("json", "yaml"):
        import yaml

        print(json.dumps(record, indent=2) if args.output == "json" else yaml.safe_dump(record, sort_keys=False))
        return 0
    print(f"Remediation {args.namespace}/{args.name}: {record['phase']}: {record['message']}")
    print(f"  runbook {record['runbook']}, target {record['target']}, trigger {record['trigger']}")
    print("Steps:")
    for step in record["steps"]:
        print(f"  {step['index'] + 1}. {step.get('name', '')}: {step['phase']}: {step.get('message', '')}")
        for one in step.get("targets") or []:  # a fanned-out step: each object of its set
            ref = one.get("target") or {}
            where = f"{ref.get('namespace')}/" if ref.get("namespace") else ""
            said = f"{one.get('phase', '')} {one.get('message', '')}"
            print(f"     {ref.get('kind', '')} {where}{ref.get('name', '')}: {said}")
    print("Evidence:" if record["evidence"] else "Evidence: none recorded")
    for line in evidence.lines(record["evidence"]):
        print(f"  {line}")
    return 0


def plan(args: argparse.Namespace) -> int:
    """Run a Remediation as a dry run on the cluster (the operator must be running) and print the plan."""
    import time

    import yaml

    from paramedic.api.common import GROUP, VERSION
    from paramedic.api.remediation import TERMINAL_PHASES
    from paramedic.kube import ApiException

    clients = _clients(args)
    try:
        with open(args.file) as f:
            doc = next(
                (d for d in yaml.safe_load_all(f) if isinstance(d, dict) and d.get("kind") == "Remediation"), None
            )
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read {args.file}: {exc}") from None
    if doc is None or not isinstance(doc.get("spec"), dict) or "name" not in (doc.get("metadata") or {}):
        raise UserError(f"{args.file} holds no Remediation with a metadata.name and a spec")
    namespace = (doc.get("metadata") or {}).get("namespace") or args.namespace
    body = {
        **doc,
        "metadata": {"generateName": f"{doc['metadata']['name'][:40]}-plan-"},
        "spec": {**doc["spec"], "dryRun": True},
    }
    try:
        created = clients.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "remediations", body)
    except ApiException as exc:
        raise _api_error("rejected by the API server", exc) from None
    name = created["metadata"]["name"]
    deadline = time.monotonic() + args.timeout
    status: dict[str, Any] = {}
    try:
        while time.monotonic() < deadline:
            status = (
                clients.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "remediations", name).get(
                    "status"
                )
                or {}
            )
            if status.get("phase") in TERMINAL_PHASES:
                break
            print(f"... {status.get('phase', 'Pending')}", file=sys.stderr)
            time.sleep(1)
    finally:
        clients.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "remediations", name)
    for step in status.get("steps") or []:
        print(f"{step['index'] + 1}. {step['name']}: {step['plan'] or step['message']}")
        for key, value in (step.get("changes") or {}).items():
            print(f"     {key}: {value}")
    print(f"{status.get('phase', 'no answer (is the operator running?)')}: {status.get('message', '')}")
    return 0 if status.get("phase") == "DryRun" else 1
