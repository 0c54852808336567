"""``paramedic-devcluster``: build the control plane, run it until Ctrl-C, or run the guided demo on it."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from . import build, demo
from .cluster import DevCluster


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paramedic-devcluster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build (or find in the cache) the control-plane binaries and print their folder")
    up = commands.add_parser("up", help="start a local control plane and keep it running until Ctrl-C")
    up.add_argument("--nodes", type=int, default=3, help="how many KWOK nodes to create (default 3)")
    commands.add_parser("clean", help="delete every cached build")
    demo_parser = commands.add_parser("demo", help="the guided demo on a local control plane (`make demo`)")
    demo_parser.add_argument("--nodes", type=int, default=3, help="KWOK nodes to create")
    args = parser.parse_args(argv)

    try:
        if args.command == "build":
            print(build.ensure_binaries())
        elif args.command == "clean":
            shutil.rmtree(build.cache_root() / "controlplane", ignore_errors=True)
        elif args.command == "demo":
            return demo.main(nodes=args.nodes)
        else:
            serve(args.nodes)
    except build.BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def serve(nodes: int) -> None:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with DevCluster(nodes=nodes) as cluster:
        print(f"export KUBECONFIG={cluster.kubeconfig}", flush=True)
        stop.wait()


if __name__ == "__main__":
    sys.exit(main())
