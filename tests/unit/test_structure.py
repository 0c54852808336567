"""The shape of the code: the runtime package stands alone, without the developer tooling."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "paramedic"


def imported_modules(path: Path) -> Iterator[str]:
    """Every absolute module name a file imports, lazy imports inside functions included."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_the_runtime_package_imports_no_dev_tooling() -> None:
    offenders = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path in PACKAGE.rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] in ("paramedic_dev", "cryptography") or name.startswith("paramedic.devcluster")
    )
    assert offenders == []


def test_the_runtime_distribution_does_not_depend_on_cryptography() -> None:
    """cryptography is the dev CA's (paramedic_dev.pki); the operator image must not carry it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [
        requirement.split(">")[0].split("<")[0].split("=")[0].strip().lower() for requirement in project["dependencies"]
    ]
    assert "cryptography" not in names
    dev = tomllib.loads((ROOT / "dev" / "pyproject.toml").read_text())["project"]
    assert "cryptography" in [Requirement(text).name for text in dev["dependencies"]]
    assert not (PACKAGE / "devcluster").exists()
    assert not (PACKAGE / "demo.py").exists()
