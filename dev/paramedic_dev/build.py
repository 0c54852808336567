"""Build the control-plane binaries from Go modules, once, into a cache.

``go install`` cannot build kube-apiserver: k8s.io/kubernetes points its
staging modules (k8s.io/api, client-go, ...) at local directories with
``replace`` directives, which a dependent module ignores. So each component is
built inside a small generated wrapper module that requires the release and
replaces every staging module with its published ``v0.X.Y``. The list of
staging modules is read from the release's own go.mod, so a version bump
needs no other edit.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TextIO

#: Bumped when the recipe below changes in a way that needs a rebuild.
RECIPE = "4"

#: The binaries every local cluster needs, in the order they are built.
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "helm")


#: KWOK's stock stage folders that the local cluster runs with.
KWOK_STAGES = ("node/fast", "node/heartbeat-with-lease", "pod/fast")


class BuildError(RuntimeError):
    """A component failed to build; the message names the log file."""


@dataclasses.dataclass(frozen=True)
class Versions:
    kubernetes: str
    etcd: str
    kwok: str
    helm: str

    @classmethod
    def pinned(cls) -> Versions:
        text = resources.files(__package__).joinpath("versions.toml").read_text()
        data = tomllib.loads(text)
        return cls(
            kubernetes=data["kubernetes"]["version"],
            etcd=data["etcd"]["version"],
            kwok=data["kwok"]["version"],
            helm=data["helm"]["version"],
        )

    @property
    def staging(self) -> str:
        """The published version of the staging modules: v1.36.3 -> v0.36.3."""
        return "v0" + self.kubernetes[2:]

    @property
    def key(self) -> str:
        digest = hashlib.sha256(f"{self}{RECIPE}{go_version()}".encode()).hexdigest()[:8]
        return f"k8s-{self.kubernetes}_etcd-{self.etcd}_kwok-{self.kwok}_helm-{self.helm}_{digest}"


def cache_root() -> Path:
    """$PARAMEDIC_CACHE, else the user's cache directory (XDG) / paramedic."""
    if explicit := os.environ.get("PARAMEDIC_CACHE"):
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "paramedic"


def go_version() -> str:
    try:
        out = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(f"the Go toolchain is needed to build the control plane: {exc}") from exc
    return out.stdout.strip()


def bin_dir(versions: Versions | None = None) -> Path:
    versions = versions or Versions.pinned()
    return cache_root() / "controlplane" / versions.key / "bin"


def cached(versions: Versions | None = None) -> Path | None:
    """The cached bin directory when it is complete, else None."""
    override = os.environ.get("PARAMEDIC_BIN_DIR")
    if override:
        return Path(override)
    target = bin_dir(versions)
    return target if (target / ".complete").exists() else None


def ensure_binaries(log: Progress | None = None) -> Path:
    """Return a directory holding every binary in BINARIES, building what is missing."""
    versions = Versions.pinned()
    found = cached(versions)
    if found is not None:
        return found
    target = bin_dir(versions)
    Builder(versions, target.parent, log or Progress()).build_all()
    return target


class Progress:
    """Prints what is being built and how long it has taken, every half minute."""

    def __init__(self, stream: TextIO | None = None, label: str = "controlplane") -> None:
        self._stream = stream or sys.stderr
        self._label = label
        self._started = time.monotonic()

    def say(self, message: str) -> None:
        elapsed = int(time.monotonic() - self._started)
        print(f"[{self._label} {elapsed // 60:d}m{elapsed % 60:02d}s] {message}", file=self._stream, flush=True)

    def ticking(self, what: str) -> threading.Event:
        done = threading.Event()

        def tick() -> None:
            began = time.monotonic()
            while not done.wait(30):
                self.say(f"still {what} ({int(time.monotonic() - began)}s)")

        threading.Thread(target=tick, daemon=True).start()
        return done


class Builder:
    def __init__(self, versions: Versions, root: Path, progress: Progress) -> None:
        self.versions = versions
        self.root = root
        self.work = root / "src"
        self.bin = root / "bin"
        self.log_path = root / "build.log"
        self.progress = progress

    def build_all(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.bin.mkdir(exist_ok=True)
        self.log_path.write_text(f"build of {self.versions} with {go_version()}\n")
        self.progress.say(f"building {', '.join(BINARIES)} once; log: {self.log_path}")
        self._kubernetes()
        self._etcd()
        self._kwok()
        self._helm()
        (self.bin / ".complete").write_text(json.dumps(dataclasses.asdict(self.versions)))
        self.progress.say(f"done: {self.bin}")

    # -- the three wrapper modules ------------------------------------------------

    def _kubernetes(self) -> None:
        mod, ldflags = self.kubernetes_module()
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"):
            self._go_build(mod, name, f"k8s.io/kubernetes/cmd/{name}", ldflags)

    def kubernetes_module(self) -> tuple[Path, list[str]]:
        """The wrapper module of the pinned k8s.io/kubernetes release and the ldflags that stamp its version
        (also used by paramedic_dev.node to build the kubelet)."""
        v = self.versions
        mod = self._wrapper("kubernetes", {"k8s.io/kubernetes": v.kubernetes})
        release_mod = self._download_gomod(mod, "k8s.io/kubernetes", v.kubernetes)
        staging = re.findall(r"^\s*(k8s\.io/[\w.-]+) => \./staging/", release_mod, re.M)
        if not staging:
            raise BuildError(f"no staging modules found in k8s.io/kubernetes@{v.kubernetes} go.mod")
        replaces = "\n".join(f"\t{m} => {m} {v.staging}" for m in staging)
        with (mod / "go.mod").open("a") as f:
            f.write(f"\nreplace (\n{replaces}\n)\n")
        minor = v.kubernetes.lstrip("v").split(".")[1]
        stamp = {
            "gitVersion": v.kubernetes,
            "gitMajor": "1",
            "gitMinor": minor,
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        ldflags = ["-s", "-w"] + [
            f"-X {pkg}.{name}={value}"
            for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
            for name, value in stamp.items()
        ]
        return mod, ldflags

    def _etcd(self) -> None:
        v = self.versions
        mod = self._wrapper("etcd", {"go.etcd.io/etcd/server/v3": v.etcd})
        stamp = [f"-X go.etcd.io/etcd/api/v3/version.GitSHA={v.etcd}"]
        self._go_build(mod, "etcd", "go.etcd.io/etcd/server/v3", ["-s", "-w", *stamp])

    def _kwok(self) -> None:
        v = self.versions
        mod = self._wrapper("kwok", {"sigs.k8s.io/kwok": v.kwok})
        stamp = [f"-X sigs.k8s.io/kwok/pkg/consts.Version={v.kwok}"]
        self._go_build(mod, "kwok", "sigs.k8s.io/kwok/cmd/kwok", ["-s", "-w", *stamp])
        # KWOK's stock stages (node initialize + lease heartbeat, pod ready /
        # complete / delete) come from the same release as the binary.
        info = json.loads(
            self._run(mod, ["go", "mod", "download", "-json", f"sigs.k8s.io/kwok@{v.kwok}"], "kwok stages")
        )
        stage_root = Path(info["Dir"]) / "kustomize" / "stage"
        documents = [
            path.read_text()
            for folder in KWOK_STAGES
            for path in sorted((stage_root / folder).glob("*.yaml"))
            if path.name != "kustomization.yaml"
        ]
        (self.bin / "kwok-stages.yaml").write_text("\n---\n".join(documents))

    def _helm(self) -> None:
        v = self.versions
        mod = self._wrapper("helm", {"helm.sh/helm/v3": v.helm})
        stamp = [f"-X helm.sh/helm/v3/internal/version.version={v.helm}"]
        self._go_build(mod, "helm", "helm.sh/helm/v3/cmd/helm", ["-s", "-w", *stamp])

    # -- helpers ------------------------------------------------------------------

    def _wrapper(self, name: str, requires: dict[str, str]) -> Path:
        mod = self.work / name
        if mod.exists():
            shutil.rmtree(mod)
        mod.mkdir(parents=True)
        go_minor = ".".join(go_version().removeprefix("go").split(".")[:2])
        lines = [f"module paramedic.dev/controlplane/{name}", "", f"go {go_minor}", ""]
        lines += [f"require {path} {version}" for path, version in requires.items()]
        (mod / "go.mod").write_text("\n".join(lines) + "\n")
        return mod

    def _download_gomod(self, mod: Path, path: str, version: str) -> str:
        out = self._run(mod, ["go", "mod", "download", "-json", f"{path}@{version}"], f"fetching {path}@{version}")
        info = json.loads(out)
        return Path(info["GoMod"]).read_text()

    def _go_build(self, mod: Path, name: str, package: str, ldflags: Sequence[str]) -> None:
        began = time.monotonic()
        self._run(
            mod,
            [
                "go",
                "build",
                "-mod=mod",
                "-trimpath",
                "-ldflags",
                " ".join(ldflags),
                "-o",
                str(self.bin / name),
                package,
            ],
            f"building {name}",
        )
        self.progress.say(f"built {name} in {int(time.monotonic() - began)}s")

    def _run(self, cwd: Path, argv: Sequence[str], what: str) -> str:
        env = dict(os.environ)
        # The checksum database is not reachable from every build machine; the
        # module proxy's own hashes are recorded in the wrapper's go.sum instead.
        env.setdefault("GOSUMDB", "off")
        env.setdefault("GOTOOLCHAIN", "local")
        env.setdefault("CGO_ENABLED", "0")
        env["GOFLAGS"] = "-mod=mod"
        self.progress.say(what)
        done = self.progress.ticking(what)
        try:
            with self.log_path.open("a") as log:
                log.write(f"\n$ (cd {cwd} && {' '.join(argv)})\n")
                log.flush()
                proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
                log.write(proc.stdout)
        finally:
            done.set()
        if proc.returncode != 0:
            raise BuildError(f"{what} failed (exit {proc.returncode}); see {self.log_path}")
        return proc.stdout
