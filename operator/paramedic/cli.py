"""The ``paramedic`` command (also ``kubectl paramedic``).

Exit codes: 0 success, 1 the thing checked failed (lint errors, a failed
remediation), 2 usage or environment error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from paramedic import __version__


def _run(args: argparse.Namespace) -> int:
    if args.kubeconfig:
        # Before the kubernetes client is imported: it reads $KUBECONFIG once, at import.
        os.environ["KUBECONFIG"] = args.kubeconfig
    if args.aws_endpoint_url:
        os.environ["PARAMEDIC_AWS_ENDPOINT_URL"] = args.aws_endpoint_url
    from paramedic import operator

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = operator.Config(
        namespace=args.namespace,
        kubeconfig=args.kubeconfig,
        liveness=args.liveness,
        webhook_host=args.webhook_host,
        webhook_port=args.webhook_port,
        webhook_token_secret=args.webhook_token_secret,
        prometheus_url=args.prometheus_url,
        leader_elect=args.leader_elect,
        metrics_port=args.metrics_port,
        lease_duration=args.lease_duration,
    )
    return asyncio.run(operator.run(config))


def _demo(args: argparse.Namespace) -> int:
    from paramedic import demo

    return demo.main(nodes=args.nodes)


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
    run.add_argument("--webhook-host", default="0.0.0.0", help="address of the Alertmanager webhook")
    run.add_argument("--webhook-port", type=int, default=None, help="serve Alertmanager's webhook on this port")
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
    run.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    run.set_defaults(func=_run)

    demo = commands.add_parser("demo", help="a guided demo on a local control plane")
    demo.add_argument("--nodes", type=int, default=3, help="KWOK nodes to create")
    demo.set_defaults(func=_demo)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
