"""Outbound calls: the allow-list, the address rules, and the guarded connector against a real local server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from paramedic import outbound
from paramedic.cli import parser
from paramedic.escalation import channels
from paramedic.outbound import Egress, Permit, Refused
from paramedic.triggers import prometheus
from paramedic_dev import pki
from tests.services import reply_json

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

EGRESS = Egress(
    allowed_prefixes=("https://prometheus.monitoring.svc:9090", "https://hooks.slack.com/services/", "https://"),
    cluster_cidrs=outbound.parse_cidrs(["10.0.0.0/8", "fd00:10::/64"]),
)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fe80::1]/",
        "http://169.254.1.1/",
    ],
)
@pytest.mark.parametrize("trusted", [True, False])
def test_metadata_and_link_local_are_always_refused(url: str, trusted: bool) -> None:
    egress = Egress(allowed_prefixes=("http://",))
    with pytest.raises(Refused, match="link-local or cloud metadata address, always refused"):
        egress.admit(url, trusted)


def test_a_tenant_url_must_be_on_the_allow_list() -> None:
    egress = Egress(allowed_prefixes=("https://prometheus.monitoring.svc:9090/prom",))
    assert egress.admit("https://prometheus.monitoring.svc:9090/prom/api", trusted=False) == Permit(internal=True)
    refused = [
        "http://prometheus.monitoring.svc:9090/prom",  # another scheme
        "https://prometheus.monitoring.svc:9091/prom",  # another port
        "https://prometheus.monitoring.svc:9090/promx",  # not under the path
        "https://prometheus.monitoring.svc.evil.com:9090/prom",
        "https://prometheus.monitoring.svc:9090@evil.com/prom",
        "https://evil.com/prom",
    ]
    for url in refused:
        with pytest.raises(Refused, match=r"is not on the operator's allow-list \(--allowed-url-prefix\)"):
            egress.admit(url, trusted=False)
    with pytest.raises(Refused, match="not on the operator's allow-list"):
        Egress().admit("https://prometheus.monitoring.svc:9090/", trusted=False)  # no list: nothing


def test_an_entry_without_a_port_admits_any_port_of_its_host() -> None:
    egress = Egress(allowed_prefixes=("http://127.0.0.1",))
    assert egress.admit("http://127.0.0.1:41234/hook", trusted=False).internal


def test_cluster_internal_addresses_need_an_entry_naming_the_host() -> None:
    # "https://" alone admits public hosts, not the cluster's own addresses
    assert EGRESS.admit("https://203.0.113.7/", trusted=False) == Permit(internal=False)
    for url in ("https://10.1.2.3/", "https://127.0.0.1/", "https://[fd00:10::5]/", "https://[::1]/"):
        with pytest.raises(Refused, match=r"is cluster-internal \(--cluster-cidr\)"):
            EGRESS.admit(url, trusted=False)
    # an admin's URL (ClusterRunbook, the operator's namespace, its flags) may reach them
    assert EGRESS.admit("https://10.1.2.3/", trusted=True) == Permit(internal=True)


def test_trusted_urls_need_no_entry_but_must_be_http() -> None:
    assert Egress().admit("https://prometheus.example", trusted=True).internal
    for url in ("file:///etc/passwd", "gopher://x/", "prometheus:9090", ""):
        with pytest.raises(Refused, match="not an absolute http"):
            Egress().admit(url, trusted=True)


def test_refusals_show_the_origin_never_the_path() -> None:
    with pytest.raises(Refused) as caught:
        Egress().admit("https://hooks.slack.com/services/T000/B000/XXXXSECRET", trusted=False)
    assert "XXXXSECRET" not in str(caught.value)
    assert "https://hooks.slack.com" in str(caught.value)


@given(st.ip_addresses())
def test_address_rules_hold_for_every_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    strict, open_ = EGRESS.refusal(ip, Permit(internal=False)), EGRESS.refusal(ip, Permit(internal=True))
    if ip.is_link_local or ip in outbound.METADATA:
        assert strict
        assert open_
    else:
        assert open_ is None  # trusted URLs reach anything else
    if strict is None:
        assert not ip.is_loopback
        assert not any(ip in net for net in EGRESS.cluster_cidrs)


def test_allow_list_entries_are_checked_when_the_operator_starts() -> None:
    run = ["run", "--allowed-url-prefix", "https://prom.example:9090/", "--cluster-cidr", "10.96.0.0/12"]
    args = parser().parse_args(run)
    assert args.allowed_url_prefix == ["https://prom.example:9090/"]
    for bad in (["--allowed-url-prefix", "prom.example"], ["--cluster-cidr", "10.0.0.0/33"]):
        with pytest.raises(SystemExit):
            parser().parse_args(["run", *bad])


def test_the_kustomize_base_args_are_valid_flags() -> None:
    deployment = yaml.safe_load((DEPLOY / "base" / "deployment.yaml").read_text())
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    parsed = parser().parse_args(args)
    assert isinstance(parsed, argparse.Namespace)
    assert "https://hooks.slack.com/" in parsed.allowed_url_prefix


# -- the connector, against real local servers ------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    """/hook: 503 with a secret in the body; /redirect: to the metadata endpoint; /slow: never in time;
    /api/v1/query: a Prometheus answer (one series)."""

    def do_POST(self) -> None:
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        if self.path == "/slow":
            time.sleep(3)
        body = b"internal detail: db password is hunter2"
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # /slow: the client gave up long ago
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_GET(self) -> None:
        if "oops" in self.path:
            answer = {"status": "error", "errorType": "bad_data", "error": "parse error: secret-ish detail"}
            reply_json(self, answer, 400, "Bad Request")
        else:
            reply_json(
                self, {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {"a": "b"}}]}}
            )

    def log_message(self, *args: Any) -> None:
        pass


def serve(tls: pki.KeyPair | None = None) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"{scheme}://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def server() -> Iterator[str]:
    yield from serve()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    ca = pki.CertificateAuthority(tmp_path)
    pair = ca.issue("prometheus", "127.0.0.1", server_names=("127.0.0.1",))
    for url in serve(pair):
        yield url, str(ca.cert_path)


def post(egress: Egress, url: str, trusted: bool = False) -> channels.Delivery:
    async def go() -> channels.Delivery:
        async with outbound.session(egress) as session:
            permit = egress.admit(url, trusted)
            return await channels.send(session, permit, url, {}, attempts=1, request_timeout=egress.timeout)

    return asyncio.run(go())


def test_a_name_resolving_to_a_refused_address_is_refused_when_connecting(server: str) -> None:
    """'localhost' passes the allow-list ('http://' admits any host) but resolves to loopback."""
    url = server.replace("127.0.0.1", "localhost") + "/hook"
    delivery = post(Egress(allowed_prefixes=("http://",)), url)
    assert not delivery.ok
    assert delivery.error.startswith("refused: localhost resolves only to refused addresses: ")
    assert "cluster-internal" in delivery.error


def test_failures_report_status_and_reason_only_and_redirects_are_not_followed(server: str) -> None:
    egress = Egress(allowed_prefixes=("http://127.0.0.1",), timeout=1.0)
    assert post(egress, server + "/hook").error == "HTTP 503 Service Unavailable"
    assert post(egress, server + "/redirect").error == "HTTP 302 Found"
    started = time.monotonic()
    assert post(egress, server + "/slow").error == f"{server} did not answer in time"
    assert time.monotonic() - started < 2.5


def query(url: str, ca_file: str | None, promql: str = "up") -> list[dict[str, Any]]:
    egress = Egress(timeout=5.0)

    async def go() -> list[dict[str, Any]]:
        async with outbound.session(egress, ca_file) as session:
            return await prometheus._query(session, egress.admit(url, trusted=True), url, promql)

    return asyncio.run(go())


def test_prometheus_tls_is_verified_against_the_ca_file(tls_server: tuple[str, str]) -> None:
    url, ca_file = tls_server
    assert query(url, ca_file) == [{"metric": {"a": "b"}}]
    with pytest.raises(aiohttp.ClientConnectorCertificateError) as caught:
        query(url, None)  # the system's CAs do not know this server
    assert outbound.describe(caught.value, url) == f"TLS to {url} failed: ClientConnectorCertificateError"


def test_a_prometheus_error_shows_its_type_not_its_text(server: str) -> None:
    with pytest.raises(prometheus.QueryFailed) as caught:
        query(server, None, "rate(oops[5m]")
    assert str(caught.value) == "HTTP 400 Bad Request (bad_data)"


def test_which_prometheus_urls_are_the_admins() -> None:
    """A Runbook's own url is a tenant's; a ClusterRunbook's, one in the operator's namespace, or the default
    (no url) are the admin's."""
    from types import SimpleNamespace

    from paramedic.api.runbook import ClusterRunbookSpec, RunbookSpec
    from paramedic.triggers.matching import Entry

    poller = prometheus.Poller(SimpleNamespace(operator_namespace="paramedic-system"), None)  # type: ignore[arg-type]
    trigger = {"prometheus": {"url": "http://prom:9090", "query": "up"}}
    spec = RunbookSpec.model_validate({"trigger": trigger, "steps": [{"deletePod": {}}]})
    default = RunbookSpec.model_validate({"trigger": {"prometheus": {"query": "up"}}, "steps": [{"deletePod": {}}]})
    cluster = ClusterRunbookSpec.model_validate({"trigger": trigger, "steps": [{"deletePod": {}}]})
    assert not poller.trusted(Entry("Runbook", "r", "shop", spec))
    assert poller.trusted(Entry("Runbook", "r", "paramedic-system", spec))
    assert poller.trusted(Entry("Runbook", "r", "shop", default))
    assert poller.trusted(Entry("ClusterRunbook", "r", None, cluster))
