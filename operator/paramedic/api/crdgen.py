"""``python -m paramedic.api.crdgen [crds/] [--check]``: write (or check) every generated file.

The CRDs (``crd``), their copy in the Helm chart and docs/reference.md
(``docgen``) are all generated from the models; this command writes them
together, so it stands above both generators.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

# What the tests and the dev tooling call through this module (``crdgen.crd``...): the generator itself.
from .crd import HEADER, check_descriptions, crd, files, model_schema, render, structural
from .docgen import render as reference
from .resources import Resource

__all__ = ["HEADER", "Resource", "check_descriptions", "crd", "files", "main", "model_schema", "render", "structural"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the paramedic CRDs generated from the API models.")
    parser.add_argument("directory", type=Path, nargs="?", default=Path("crds"))
    parser.add_argument("--check", action="store_true", help="exit 1 if the files on disk differ")
    args = parser.parse_args(argv)
    stale = []
    for name, text in files().items():
        path = args.directory / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            args.directory.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    chart = args.directory.parent / "deploy" / "helm" / "paramedic" / "crds"
    for name, text in files().items():
        if name == "kustomization.yaml" or not chart.parent.is_dir():
            continue
        if args.check:
            if not (chart / name).exists() or (chart / name).read_text() != text:
                stale.append(str(chart / name))
        else:
            chart.mkdir(exist_ok=True)
            (chart / name).write_text(text)

    docs = args.directory.parent / "docs" / "reference.md"
    if args.check:
        if not docs.exists() or docs.read_text() != reference():
            stale.append(str(docs))
    elif docs.parent.is_dir():
        docs.write_text(reference())
    if stale:
        print("stale CRDs (run `make crds`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
