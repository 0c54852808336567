# PYTHON_ARGCOMPLETE_OK  (argcomplete's global completion looks for this marker in the first lines)
"""The ``paramedic`` command (also ``kubectl paramedic``).

Exit codes: 0 success, 1 the thing checked failed (lint errors, a failed
remediation), 2 usage or environment error (a bad flag, a missing file, an
unknown context, an object that does not exist, a request the API server
refuses, a cluster that cannot be reached): one line on stderr, no traceback.
Like kubectl, the namespace defaults to the kubeconfig context's.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from paramedic import __version__
from paramedic.cli.cluster import (
    UserError,
    approve,
    complete_awaiting_approval,
    complete_namespaces,
    history,
    plan,
)


def _run(args: argparse.Namespace) -> int:
    if args.kubeconfig:
        # Before the kubernetes client is imported: it reads $KUBECONFIG once, at import.
        os.environ["KUBECONFIG"] = args.kubeconfig
    if args.aws_endpoint_url:
        os.environ["PARAMEDIC_AWS_ENDPOINT_URL"] = args.aws_endpoint_url
    from paramedic import leader, logs, operator, readiness

    logs.setup(logging.DEBUG if args.verbose else logging.INFO, json_format=args.log_format == "json")
    config = operator.Config(
        namespace=args.namespace,
        kubeconfig=args.kubeconfig,
        liveness=args.liveness,
        readiness=args.readiness,
        webhook_host=args.webhook_host,
        webhook_port=args.webhook_port,
        webhook_token_secret=args.webhook_token_secret,
        webhook_advertise=args.webhook_advertise,
        prometheus_url=args.prometheus_url,
        prometheus_ca_file=args.prometheus_ca_file,
        allowed_url_prefixes=tuple(args.allowed_url_prefix),
        cluster_cidrs=tuple(args.cluster_cidr) if args.cluster_cidr else None,
        outbound_timeout=args.outbound_timeout,
        leader_elect=args.leader_elect,
        metrics_port=args.metrics_port,
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
        evidence_item_bytes=args.evidence_item_bytes,
        evidence_total_bytes=args.evidence_total_bytes,
        evidence_redact=tuple(args.evidence_redact),
        alertmanager_url=args.alertmanager_url,
    )
    if config.leader_elect:
        try:
            config.lease_timings()
        except ValueError as exc:
            print(f"paramedic run: {exc}", file=sys.stderr)
            return 2
    if config.readiness or config.webhook_advertise:
        try:
            if config.readiness:
                readiness.parse(config.readiness)
            if config.webhook_advertise:
                leader.webhook_address(config.webhook_advertise, config.webhook_port or 0)
        except ValueError as exc:
            print(f"paramedic run: {exc}", file=sys.stderr)
            return 2
    return asyncio.run(operator.run(config))


def _lint(args: argparse.Namespace) -> int:
    from pathlib import Path

    from paramedic.lint import lint_file

    problems = [p for f in args.files for p in lint_file(Path(f))]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(args.files)} files, {len(problems)} problems")
    return 1 if problems else 0


def _url_prefix(text: str) -> str:
    from paramedic.outbound import parse_prefix

    try:
        parse_prefix(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _cidr(text: str) -> str:
    import ipaddress

    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="paramedic", description="Runbooks as code for Kubernetes.")
    top.add_argument("--version", action="version", version=f"paramedic {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the operator")
    run.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG)")
    run.add_argument(
        "--namespace",
        default=os.environ.get("PARAMEDIC_NAMESPACE", "paramedic-system"),
        help="the operator's own namespace (default: paramedic-system)",
    )
    run.add_argument("--liveness", default=None, help="serve Kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument(
        "--readiness",
        default=None,
        help="serve a readiness probe answering 200 once this replica serves (Kopf started, indexes filled, "
        "the webhook listening), leader or standby, e.g. http://0.0.0.0:8082/readyz",
    )
    run.add_argument("--webhook-host", default="0.0.0.0", help="address of the Alertmanager webhook")
    run.add_argument("--webhook-port", type=int, default=None, help="serve Alertmanager's webhook on this port")
    run.add_argument(
        "--webhook-advertise",
        default=None,
        help="this replica's IP (the pod IP, e.g. $(POD_IP)), recorded in the leader Lease so that a standby "
        "forwards the webhook to the leader; without it a standby answers 503",
    )
    run.add_argument(
        "--webhook-token-secret",
        default=None,
        metavar="NAMESPACE/NAME",
        help="Secret whose 'token' key is the webhook's bearer token (required to serve it)",
    )
    run.add_argument(
        "--prometheus-url",
        default=os.environ.get("PARAMEDIC_PROMETHEUS_URL"),
        help="Prometheus for prometheus triggers that name no url",
    )
    run.add_argument(
        "--alertmanager-url",
        default=os.environ.get("PARAMEDIC_ALERTMANAGER_URL"),
        help="Alertmanager (API v2) that holds the silences runbooks ask for while they act (spec.silence)",
    )
    run.add_argument(
        "--prometheus-ca-file",
        default=None,
        help="CA bundle (PEM) Prometheus servers' TLS certificates are verified with (default: the system's)",
    )
    run.add_argument(
        "--allowed-url-prefix",
        action="append",
        default=[],
        type=_url_prefix,
        metavar="URL",
        help="repeatable: URLs in namespaced objects (a Runbook's prometheus.url, a namespace's escalation channels) "
        "must start with one of these; an entry naming a host may reach cluster-internal addresses, a scheme "
        "alone (https://) admits any other host",
    )
    run.add_argument(
        "--cluster-cidr",
        action="append",
        default=[],
        type=_cidr,
        metavar="CIDR",
        help="repeatable: the cluster's internal ranges (pods, services, nodes), refused to namespaced objects' URLs "
        "unless an allow-list entry names the host (default: the private ranges); loopback is always internal",
    )
    run.add_argument(
        "--outbound-timeout",
        type=float,
        default=10.0,
        help="seconds a Prometheus query or an escalation post may take (default 10)",
    )
    run.add_argument(
        "--evidence-item-bytes",
        type=int,
        default=64 * 1024,
        help="bytes of text one evidence collector keeps at most, after redaction (default 65536)",
    )
    run.add_argument(
        "--evidence-total-bytes",
        type=int,
        default=512 * 1024,
        help="bytes of evidence text one Remediation's ConfigMap keeps at most (default 524288)",
    )
    run.add_argument(
        "--evidence-redact",
        action="append",
        default=[],
        metavar="RE2",
        help="repeatable: an extra RE2 pattern whose matches are redacted from evidence, besides the defaults "
        "(tokens, passwords, keys, bearer headers, AWS keys, private-key blocks)",
    )
    run.add_argument(
        "--aws-endpoint-url",
        default=None,
        help="send AWS calls here instead of AWS (an AWS-compatible service; moto in tests)",
    )
    run.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="act only while holding the Lease paramedic-leader (needed with more than one replica)",
    )
    run.add_argument("--lease-duration", type=float, default=15.0, help="seconds a leader's lease lasts (default 15)")
    run.add_argument(
        "--renew-deadline",
        type=float,
        default=None,
        help="seconds after its last successful renew began that a leader stops acting; must be shorter than "
        "the lease duration (default: 2/3 of it, 10 s for 15 s)",
    )
    run.add_argument(
        "--retry-period",
        type=float,
        default=None,
        help="seconds between lease renews and acquisition attempts; shorter than the renew deadline "
        "(default: 2/15 of the lease duration, 2 s for 15 s)",
    )
    run.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port")
    run.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text lines, or one JSON object per line for log pipelines",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    run.set_defaults(func=_run)

    lint = commands.add_parser("lint", help="validate Runbooks, Remediations and policies offline")
    lint.add_argument("files", nargs="+", help="YAML files (several documents each are fine)")
    lint.set_defaults(func=_lint)

    for name, helptext in (
        ("approve", "approve a Remediation that waits for approval"),
        ("history", "recent Remediations with their outcome and duration"),
        ("plan", "dry-run a Remediation file on the cluster and print what would change"),
    ):
        sub = commands.add_parser(name, help=helptext)
        sub.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG)")
        sub.add_argument("--context", help="the kubeconfig context to use (default: its current context)")
        namespace = sub.add_argument(
            "-n", "--namespace", default=None, help="namespace (default: the context's, as kubectl; else default)"
        )
        namespace.completer = complete_namespaces  # type: ignore[attr-defined]
        if name == "approve":
            rem = sub.add_argument("name", help="the Remediation")
            rem.completer = complete_awaiting_approval  # type: ignore[attr-defined]
            sub.set_defaults(func=approve)
        elif name == "plan":
            sub.add_argument("-f", "--file", required=True, help="a YAML file with a Remediation")
            sub.add_argument("--timeout", type=float, default=60, help="seconds to wait for the plan")
            sub.set_defaults(func=plan)
        else:
            sub.add_argument(
                "name", nargs="?", help="one Remediation: its steps and the evidence found (default: list them)"
            )
            sub.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
            sub.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table", help="output format")
            sub.add_argument("--limit", type=int, default=50, help="at most this many, newest first")
            sub.set_defaults(func=history)

    completion = commands.add_parser(
        "completion",
        help='print the shell completion script: eval "$(paramedic completion bash)" (zsh, fish too)',
    )
    completion.add_argument("shell", choices=("bash", "zsh", "fish"))
    completion.set_defaults(func=_completion)
    return top


def _completion(args: argparse.Namespace) -> int:
    from argcomplete.shell_integration import shellcode

    print(shellcode(["paramedic", "kubectl-paramedic"], shell=args.shell))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    import argcomplete
    import urllib3

    top = parser()
    argcomplete.autocomplete(top)  # answers and exits when the shell asks for completions, else nothing
    args = top.parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except UserError as exc:
        print(f"paramedic {args.command}: {exc}", file=sys.stderr)
        return 2
    except urllib3.exceptions.HTTPError as exc:
        print(f"paramedic {args.command}: cannot reach the Kubernetes API server: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
