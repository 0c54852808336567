"""``python -m paramedic_dev.bench [--preset smoke|medium|full]``: run, print the table, write JSON.

Exits 1 when an invariant fails (actions == budget, 0 idle writes, evidence for every acted Remediation);
times are reported, never judged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import report
from .presets import PRESETS
from .run import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paramedic_dev.bench", description=__doc__)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="full")
    parser.add_argument("--out", type=Path, help="the JSON results (default .bench/results-<preset>.json)")
    parser.add_argument("--keep-logs", type=Path, help="copy every component's log (and the audit log) here")
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    out = args.out or Path(".bench") / f"results-{preset.name}.json"
    results = run(preset, out, args.keep_logs)
    print(report.table(results))
    print(f"results: {out}")
    failed = [name for name, check in results["invariants"].items() if not check["ok"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
