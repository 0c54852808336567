"""Real Prometheus and Alertmanager (Debian's binaries) on loopback, for trigger tests."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from paramedic_dev.cluster import free_port
from paramedic_dev.processes import Process, wait_for


class LoopbackServer:
    """An HTTP server on 127.0.0.1 with ``handler``, served from a thread until ``close``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def reply_json(handler: BaseHTTPRequestHandler, answer: Any, status: int = 200, reason: str | None = None) -> None:
    """Send ``answer`` as a JSON response with its length, as the Prometheus API does (a stand-in's reply)."""
    body = json.dumps(answer).encode()
    handler.send_response(status, reason)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _ready(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


def binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"none of {names} is installed: run hack/system-deps.sh (make test does)")


class Prometheus(Process):
    def __init__(self, workdir: Path, scrape_targets: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "scrape_configs": [
                        {"job_name": "exporter", "honor_labels": True, "static_configs": [{"targets": scrape_targets}]}
                    ],
                }
            )
        )
        super().__init__(
            "prometheus",
            [
                binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            workdir / "prometheus.log",
        )

    def start_and_wait(self) -> None:
        self.start()
        wait_for(lambda: _ready(f"{self.url}/-/ready"), 60, "prometheus /-/ready", [self])


class Alertmanager(Process):
    def __init__(self, workdir: Path, webhook: str, token: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "alertmanager.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "route": {
                        "receiver": "paramedic",
                        "group_by": ["..."],
                        "group_wait": "0s",
                        "group_interval": "1s",
                        "repeat_interval": "1h",
                    },
                    "receivers": [
                        {
                            "name": "paramedic",
                            "webhook_configs": [
                                {
                                    "url": webhook,
                                    "send_resolved": True,
                                    "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
                                }
                            ],
                        }
                    ],
                }
            )
        )
        super().__init__(
            "alertmanager",
            [
                binary("prometheus-alertmanager", "alertmanager"),
                f"--config.file={config}",
                f"--storage.path={workdir / 'am'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            workdir / "alertmanager.log",
        )

    def start_and_wait(self) -> None:
        self.start()
        wait_for(lambda: _ready(f"{self.url}/-/ready"), 60, "alertmanager /-/ready", [self])
