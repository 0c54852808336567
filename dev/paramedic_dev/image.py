"""Build the operator's container image on this machine, with no container registry.

No registry is reachable here (nor, by design, needed): every image starts from a base root file system
bootstrapped from the Debian archive with mmdebstrap, cached as a tarball under the paramedic cache like the
control plane, and imported into podman's local storage. The operator's image is then built from the
repository's Dockerfile with ``buildah bud --isolation chroot`` (no daemon, no runtime needed for ``RUN``), from a
context holding only wheels built on this machine with pip: nothing is downloaded inside the build.

``python -m paramedic_dev.image`` (``make image``) builds it and prints its name and size; the tests use
``build_operator_image()`` and ``base_image()`` (the latter also for the test-only Job runner's tool images).

podman runs containers with runc and with its default ulimits cleared, through a containers.conf of our own
(``CONTAINERS_CONF``): on this cgroup-v1 host crun refuses ("cgroups in hybrid mode not supported"), and the
default nofile ulimit is more than an unprivileged container may set here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .build import Progress, cache_root

#: Bumped when the recipe of a base changes in a way that needs a new bootstrap.
RECIPE = "1"
SUITE = "bookworm"
#: The operator's base: Debian's python3 (3.11 in bookworm) and nothing else.
PYTHON_BASE = ("python3",)
#: The tag the deploy manifests and the Helm chart expect.
OPERATOR_IMAGE = "localhost/paramedic:0.1.0"
#: The command-line tools building and running images here needs, and the Debian packages they come in.
TOOLS = {"mmdebstrap": "mmdebstrap", "podman": "podman", "buildah": "buildah", "runc": "runc"}
REPO = Path(__file__).resolve().parents[2]
# Documentation, manual pages and translations are no use in a container: leave them out of every base.
_SLIM = [
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
]
# A tarball has no image configuration: a PATH is needed by runtimes that, unlike podman, add no default
# (containerd on the real node, paramedic_dev.node).
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONTAINERS_CONF = """\
# Written by paramedic_dev.image: podman here runs with runc (crun refuses cgroup v1 in hybrid mode)
# and without default ulimits (the defaults are more than a container may set on this host).
[containers]
default_ulimits = []

[engine]
runtime = "runc"
"""


class ImageError(RuntimeError):
    """A bootstrap or build failed; the message names the log."""


def missing_tools() -> list[str]:
    """The tools of TOOLS that are not on PATH (empty when images can be built and run here)."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def images_dir() -> Path:
    path = cache_root() / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path


def podman_env() -> dict[str, str]:
    """This process's environment with CONTAINERS_CONF pointing at our containers.conf (for podman and buildah)."""
    conf = images_dir() / "containers.conf"
    if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
        conf.write_text(CONTAINERS_CONF)
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def run(argv: Sequence[str], log: Path, *, cwd: Path | None = None) -> str:
    """Run a tool with its output appended to ``log``; return its stdout; raise ImageError naming the log."""
    with log.open("a") as out:
        out.write(f"\n--- {' '.join(argv)}\n")
        out.flush()
        result = subprocess.run(
            list(argv), cwd=cwd, env=podman_env(), stdout=subprocess.PIPE, stderr=out, text=True, check=False
        )
        out.write(result.stdout)
    if result.returncode != 0:
        raise ImageError(f"{argv[0]} failed (exit {result.returncode}); see {log}")
    return result.stdout


def base_key(packages: Sequence[str]) -> str:
    """The cache key of a base: its suite, packages and recipe (any change bootstraps a new one)."""
    return hashlib.sha256(f"{SUITE}|{','.join(sorted(packages))}|{RECIPE}".encode()).hexdigest()[:12]


def rootfs(packages: Sequence[str], progress: Progress | None = None) -> Path:
    """A minbase Debian root file system with ``packages``, as a tarball: bootstrapped once, then cached."""
    key = base_key(packages)
    tarball = images_dir() / f"rootfs-{SUITE}-{key}.tar"
    if tarball.exists():
        return tarball
    progress = progress or Progress(label="image")
    progress.say(f"bootstrapping a {SUITE} root file system with {', '.join(packages)} (mmdebstrap, once)")
    partial = tarball.with_suffix(".partial.tar")
    done = progress.ticking("bootstrapping")
    try:
        run(
            ["mmdebstrap", "--variant=minbase", f"--include={','.join(packages)}", *_SLIM, SUITE, str(partial)],
            images_dir() / "bootstrap.log",
        )
    finally:
        done.set()
    partial.rename(tarball)  # only a complete tarball is ever found in the cache
    return tarball


def image_exists(ref: str) -> bool:
    return subprocess.run(["podman", "image", "exists", ref], env=podman_env(), check=False).returncode == 0


def base_image(
    packages: Sequence[str] = PYTHON_BASE, name: str = "paramedic-base", command: Sequence[str] = ("/bin/sh",)
) -> str:
    """A local podman image of a bootstrapped root file system, e.g. ``localhost/paramedic-base:<key>``, whose
    default command is ``command``. Imported from the cached tarball when podman's storage does not have it yet."""
    changes = [f"ENV PATH={_PATH}", f"CMD {json.dumps(list(command))}"]
    tag = hashlib.sha256(f"{base_key(packages)}|{changes}".encode()).hexdigest()[:12]
    ref = f"localhost/{name}:{tag}"
    if not image_exists(ref):
        tarball = rootfs(packages)
        options = [arg for change in changes for arg in ("--change", change)]
        run(["podman", "import", *options, str(tarball), ref], images_dir() / "import.log")
    return ref


def wheels(context: Path) -> Path:
    """Wheels of paramedic (from this checkout), its dependencies and pip, into ``context``/dist/wheels.
    Built with this interpreter's pip, whose cache makes a second build quick."""
    target = context / "dist" / "wheels"
    target.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check"]
    run([*pip, "--wheel-dir", str(target), str(REPO), "pip"], images_dir() / "wheels.log")
    return target


def build_operator_image(tag: str = OPERATOR_IMAGE, progress: Progress | None = None) -> str:
    """Build the Dockerfile of this checkout on the local Python base; return the image's name."""
    progress = progress or Progress(label="image")
    base = base_image(PYTHON_BASE)
    previous = image_id(tag)
    with tempfile.TemporaryDirectory(prefix="paramedic-image-") as tmp:
        context = Path(tmp)
        progress.say("building wheels (pip)")
        wheels(context)
        progress.say(f"building {tag} on {base} (buildah)")
        bud = ["buildah", "bud", "--isolation", "chroot", "--build-arg", f"BASE={base}"]
        run([*bud, "-f", str(REPO / "Dockerfile"), "-t", tag, str(context)], images_dir() / "build.log")
    if previous and previous != image_id(tag):
        # The tag moved: the image it named would be left untagged, taking space at every rebuild.
        subprocess.run(["podman", "rmi", previous], env=podman_env(), capture_output=True, check=False)
    return tag


def image_id(ref: str) -> str | None:
    result = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Id}}", ref], env=podman_env(), capture_output=True, text=True
    )
    return result.stdout.strip() or None if result.returncode == 0 else None


def image_size(ref: str) -> int:
    """The image's size in bytes, as podman reports it (uncompressed, all layers)."""
    out = subprocess.run(
        ["podman", "image", "inspect", ref], env=podman_env(), capture_output=True, text=True, check=True
    ).stdout
    return int(json.loads(out)[0]["Size"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paramedic_dev.image", description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default=OPERATOR_IMAGE, help=f"the image's name (default {OPERATOR_IMAGE})")
    args = parser.parse_args(argv)
    if missing := missing_tools():
        print(f"error: not installed: {', '.join(missing)} (make system-deps installs them)", file=sys.stderr)
        return 2
    try:
        ref = build_operator_image(args.tag)
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{ref} {image_size(ref) / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
