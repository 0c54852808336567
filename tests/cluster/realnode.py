"""Real processes: the operator's image (built once per test run, paramedic_dev.image) and the real node
(paramedic_dev.node, started per test module), shared by the tests that need them (test_image.py, test_real_node.py,
test_real_jobs.py). Import a fixture into a test module to use it."""

from __future__ import annotations

import dataclasses
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from paramedic_dev import image, node
from paramedic_dev.cluster import DevCluster

MISSING = node.missing_tools()
SKIP_REASON = f"a real node needs {', '.join(MISSING)} (`make system-deps` installs them)"


@dataclasses.dataclass
class Real:
    node: node.RealNode
    #: Debian minbase with python3, and with psql and redis-cli: local images the node can run.
    base: str
    tools: str

    def pod_spec(self, *containers: dict[str, Any]) -> dict[str, Any]:
        """A pod spec for the real node: its placement, images never pulled (there is no registry)."""
        return {
            **node.placement(),
            "containers": [{"imagePullPolicy": "Never", **c} for c in containers],
        }


@pytest.fixture(scope="module")
def real(cluster: DevCluster) -> Iterator[Real]:
    """One per test module, gone before the next: a real kubelet keeps updating its Node, and other modules'
    tests assert that nodes nobody acted on are untouched (test_triggers.py)."""
    if MISSING:
        pytest.skip(SKIP_REASON)
    base = image.base_image(image.PYTHON_BASE)
    tools = image.base_image(node.TOOLS_PACKAGES, "paramedic-tools")
    real_node = node.RealNode(cluster, [base, tools])
    try:
        real_node.start()
        yield Real(real_node, base, tools)
    finally:
        real_node.stop()


@pytest.fixture(scope="session")
def operator_image() -> Iterator[str]:
    """Built from this checkout (wheels, then buildah on the cached Debian base), removed at the end."""
    if missing := image.missing_tools():
        pytest.skip(f"building images needs {', '.join(missing)} (`make system-deps` installs them)")
    ref = image.build_operator_image(f"localhost/paramedic:test-{uuid.uuid4().hex[:6]}")
    yield ref
    subprocess.run(["podman", "rmi", "--force", ref], env=image.podman_env(), capture_output=True, check=False)
