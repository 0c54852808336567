"""Real PostgreSQL and Redis (Debian's packages) on loopback, on free ports, for the seed Job steps that change
them (tests/cluster/test_real_jobs.py)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from paramedic_dev.cluster import free_port
from paramedic_dev.processes import Process, wait_for


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps them under /usr/lib/postgresql/<major>)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def missing() -> list[str]:
    """What these servers need that is not installed (Debian's postgresql, redis-server, and their clients)."""
    lacking = [] if postgres_bin() else ["postgresql"]
    lacking += [tool for tool in ("psql", "redis-server", "redis-cli") if shutil.which(tool) is None]
    return lacking


class PostgreSQL(Process):
    """A throw-away cluster with trust authentication on 127.0.0.1. PostgreSQL refuses to run as root, so it
    runs as Debian's ``postgres`` user (setpriv), in a folder of its own."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.workdir = Path(tempfile.mkdtemp(prefix="paramedic-postgres-"))
        user = pwd.getpwnam("postgres")
        os.chown(self.workdir, user.pw_uid, user.pw_gid)
        bin_dir = postgres_bin()
        assert bin_dir is not None, "postgresql is not installed"
        self._as_postgres = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups"]
        data = self.workdir / "data"
        subprocess.run(
            [*self._as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
            capture_output=True,
            check=True,
            timeout=120,
        )
        super().__init__(
            "postgres",
            [
                *self._as_postgres,
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.workdir}",
                "-c",
                "fsync=off",
            ],
            self.workdir / "postgres.log",
        )

    def psql(self, sql: str, timeout: float = 30) -> str:
        result = subprocess.run(
            ["psql", self.url, "-XAtc", sql], capture_output=True, text=True, timeout=timeout, check=True
        )
        return result.stdout.strip()

    def start_and_wait(self) -> None:
        self.start()
        wait_for(lambda: self.psql("select 1", timeout=5) == "1", 60, "postgres to accept connections", [self])

    def stop(self, grace: float = 10.0) -> None:
        super().stop(grace)
        shutil.rmtree(self.workdir, ignore_errors=True)


class Redis(Process):
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = Path(tempfile.mkdtemp(prefix="paramedic-redis-"))
        super().__init__(
            "redis",
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            self.workdir / "redis.log",
        )

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            ["redis-cli", "-u", self.url, *args], capture_output=True, text=True, timeout=30, check=True
        )
        return result.stdout.strip()

    def start_and_wait(self) -> None:
        self.start()
        wait_for(lambda: self.cli("ping") == "PONG", 60, "redis to answer PING", [self])

    def stop(self, grace: float = 10.0) -> None:
        super().stop(grace)
        shutil.rmtree(self.workdir, ignore_errors=True)
