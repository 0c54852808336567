"""The shape of the code: the runtime package stands alone (no dev tooling), its imports run one way
(no cycle, nothing upward between the rooms of LAYERS), and its modules stay under 400 lines."""

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


# -- the import graph -------------------------------------------------------------------------

#: The rooms of operator/paramedic from the ground floor up (docs/architecture.md draws them).
#: A module may import from its own room and from the rows below, never from a row above, and rooms
#: sharing a row do not import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("paramedic", "kube", "logs", "outbound", "readiness"),  # the ground floor: Kubernetes and process mechanics
    ("fencing",),  # the permit every acting path checks (paramedic.fencing)
    ("leader",),  # the Lease that says which replica acts, on the ground floor's client
    ("api",),  # the models: the CRDs' single source, pure
    ("records",),  # what is written about it: status, conditions, Events, metrics
    ("actions", "policy", "evidence"),  # what changes the world / may it / what it looks at first
    ("escalation",),  # notifying people: reads policies, writes records
    ("engine", "triggers"),  # the two drivers: Remediations to steps, failures to Remediations
    ("lint", "operator"),  # the composition root and the offline linter
    ("cli",),
    ("__main__",),
)

#: Modules over the 400-line limit, each being split by another piece of work; remove an entry with its split.
TOO_LONG_FOR_NOW = {}
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(name: str) -> set[str]:
    """The paramedic modules ``name`` imports (lazy and TYPE_CHECKING imports included)."""
    path = MODULES[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package, up level - 1
                base = ".".join([*package[: len(package) - node.level + 1], node.module or ""]).strip(".")
            else:
                base = node.module or ""
            for alias in node.names:  # from X import Y: the module X.Y when there is one, else X
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {other for other in found if other in MODULES and other != name}


GRAPH = {name: _imports(name) for name in MODULES}


def _room(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _row(name: str) -> int:
    room = _room(name)
    return next(i for i, rooms in enumerate(LAYERS) if room in rooms)


def test_every_room_has_its_row() -> None:
    rooms = {_room(name) for name in MODULES}
    listed = [room for rooms in LAYERS for room in rooms]
    assert sorted(rooms) == sorted(listed)


def test_no_import_runs_upward_or_sideways() -> None:
    wrong = sorted(
        f"{name} -> {other}"
        for name, imported in GRAPH.items()
        for other in imported
        if _room(other) != _room(name) and _row(other) >= _row(name)
    )
    assert wrong == []


def test_the_import_graph_has_no_cycle() -> None:
    """Lazy imports that hide a cycle count too: they are in the graph."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for other in sorted(GRAPH[name]):
            if state.get(other) == 1:
                cycles.append([*path[path.index(other) :], other])
            elif other not in state:
                visit(other, [*path, other])
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_graph_sees_what_it_checks() -> None:
    """The checks above would pass on an empty graph: it has the edges the code has."""
    assert "paramedic.api.common" in GRAPH["paramedic.actions.base"]
    assert "paramedic.kube.kinds" in GRAPH["paramedic.engine.targets"]
    assert "paramedic.outbound" in GRAPH["paramedic.escalation.channels"]  # from paramedic import outbound
    assert "paramedic.policy.scope" in GRAPH["paramedic.policy.access"]  # from . import scope


def test_no_module_is_over_the_line_limit() -> None:
    """The runtime package's modules and the dev distribution's alike."""
    long = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    long |= {str(path): len(path.read_text().splitlines()) for path in (ROOT / "dev" / "paramedic_dev").rglob("*.py")}
    over = sorted(f"{name}: {n} lines" for name, n in long.items() if n > MAX_LINES and name not in TOO_LONG_FOR_NOW)
    assert over == []


# -- the actions and the Step model ---------------------------------------------------------------


def test_every_step_field_has_its_action_and_the_marks_match_what_the_actions_do() -> None:
    from typing import get_args

    from paramedic.actions import REGISTRY
    from paramedic.actions.checks import CHECKS
    from paramedic.api.runbook import ACTION_FIELDS, CLUSTER_ONLY, NODE_ACTIONS, Check

    assert list(REGISTRY) == list(ACTION_FIELDS)
    assert len(ACTION_FIELDS) == 20
    # A node action resolves its target to the Node itself, and is reserved to ClusterRunbooks.
    assert {name for name, action in REGISTRY.items() if action.kinds == {"Node"}} == NODE_ACTIONS
    assert NODE_ACTIONS <= CLUSTER_ONLY
    assert {"rolloutRestart", "scale", "runJob"}.isdisjoint(CLUSTER_ONLY)
    assert set(CHECKS) == set(get_args(Check)) - {"None"}
