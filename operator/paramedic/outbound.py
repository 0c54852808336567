"""Outbound HTTP to URLs that objects name: Prometheus servers, escalation channels.

The operator runs with cluster-wide network reach; a URL in a tenant's
namespaced object must not borrow it (SSRF). Two rules, one for the URL and
one for the address it reaches:

* A URL from a namespaced, tenant-owned object must match the admin's
  allow-list (``--allowed-url-prefix``). An entry naming a host admits that
  host (any port unless the entry names one, paths under the entry's path);
  an entry with a scheme only (``https://``) admits any host over it, except
  cluster-internal addresses. URLs of admin objects (ClusterRunbooks, the
  operator's own namespace, the operator's flags) need no entry.
* The address actually connected to, after DNS resolution (checked in the
  connector's resolver, so a name that re-resolves cannot slip through), is
  never link-local or a cloud metadata endpoint, whoever named it; and it is
  cluster-internal (``--cluster-cidr``, loopback) only when the URL is
  trusted or an allow-list entry names its host.

Redirects are not followed (a 30x could point anywhere), every request has a
timeout, and only the status code and reason phrase of a failed response are
reported: a response body never reaches a tenant-readable status (it goes
to the debug log, truncated). Refusal messages show the URL's origin only
(a webhook URL's path is a secret).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import ipaddress
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Cloud metadata endpoints (AWS, GCP, Azure, OpenStack; AWS over IPv6; Alibaba), refused for every URL.
METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
#: Private ranges, taken as the cluster's when no --cluster-cidr is given.
DEFAULT_CLUSTER_CIDRS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
#: Bytes of a response read at most (a Prometheus answer); beyond it the request fails.
MAX_BODY = 16 * 1024 * 1024


class Refused(Exception):
    """A URL or an address the rules refuse; the message says which rule, for the object's status."""


@dataclasses.dataclass(frozen=True)
class Permit:
    """A URL let through, and whether it may reach cluster-internal addresses."""

    internal: bool


def origin(url: str) -> str:
    """scheme://host[:port] of a URL, never its path, query or credentials (for messages)."""
    try:
        parsed = URL(url)
        return str(parsed.origin()) if parsed.is_absolute() and parsed.host else "an invalid URL"
    except (ValueError, TypeError):
        return "an invalid URL"


def _ip(host: str) -> Address | None:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse_prefix(text: str) -> URL:
    """An allow-list entry: http(s)://host[:port][/path], or a scheme alone (``https://``)."""
    prefix = URL(text)
    if prefix.scheme not in ("http", "https") or prefix.user or prefix.query_string or prefix.fragment:
        raise ValueError(f"{text!r} is not an allow-list entry like https://host[:port][/path] or https://")
    return prefix


def parse_cidrs(texts: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(t, strict=False) for t in texts)


@dataclasses.dataclass(frozen=True)
class Egress:
    """The admin's rules for outbound calls (operator flags)."""

    allowed_prefixes: tuple[str, ...] = ()
    cluster_cidrs: tuple[Network, ...] = parse_cidrs(DEFAULT_CLUSTER_CIDRS)
    #: Seconds a whole request (connect, send, read) may take.
    timeout: float = 10.0

    def admit(self, url: str, trusted: bool) -> Permit:
        """Permit the URL, or raise Refused saying why. Pure: DNS is checked when connecting."""
        try:
            parsed = URL(url)
        except (ValueError, TypeError):
            raise Refused("the URL cannot be parsed") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise Refused(f"{origin(url)} is not an absolute http(s) URL")
        ip = _ip(parsed.host)
        if ip is not None and (always := self.refusal(ip, Permit(internal=True))):
            raise Refused(always)  # the rule for everyone first: the clearest reason
        if trusted:
            permit = Permit(internal=True)
        else:
            kinds = [k for k in (_matches(parse_prefix(p), parsed) for p in self.allowed_prefixes) if k]
            if not kinds:
                raise Refused(
                    f"{origin(url)} is not on the operator's allow-list (--allowed-url-prefix); "
                    "URLs in a namespace's objects must be allowed by the cluster admin"
                )
            permit = Permit(internal="host" in kinds)
        if ip is not None:  # aiohttp connects to an IP literal without asking the resolver
            refusal = self.refusal(ip, permit)
            if refusal:
                raise Refused(refusal)
        return permit

    def refusal(self, ip: Address, permit: Permit) -> str | None:
        """Why this address may not be connected to under this permit; None when it may."""
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip in METADATA or ip.is_link_local:
            return f"{ip} is a link-local or cloud metadata address, always refused"
        internal = ip.is_loopback or ip.is_unspecified or any(ip in net for net in self.cluster_cidrs)
        if internal and not permit.internal:
            return (
                f"{ip} is cluster-internal (--cluster-cidr); only an allow-list entry naming the host "
                "may reach it from a namespace's object"
            )
        return None


def _matches(prefix: URL, url: URL) -> str | None:
    """'host' when the entry names the URL's host, 'scheme' when it admits any host, else None."""
    if prefix.scheme != url.scheme:
        return None
    if not prefix.host:
        return "scheme"
    if prefix.host != url.host or (prefix.explicit_port is not None and prefix.port != url.port):
        return None
    path = prefix.path.rstrip("/")
    if path and url.path != path and not url.path.startswith(path + "/"):
        return None
    return "host"


_PERMIT: contextvars.ContextVar[Permit] = contextvars.ContextVar("paramedic_outbound_permit")


class GuardedResolver(AbstractResolver):
    """DNS resolution that drops the addresses the current request's permit refuses.

    The connector resolves in the requesting task (no DNS cache), so the permit set by ``request`` applies."""

    def __init__(self, egress: Egress) -> None:
        self.egress = egress
        self.inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        permit = _PERMIT.get(Permit(internal=False))
        found = await self.inner.resolve(host, port, family)
        allowed, refusals = [], []
        for result in found:
            ip = _ip(result["host"])
            refusal = self.egress.refusal(ip, permit) if ip is not None else "not an IP address"
            if refusal:
                refusals.append(refusal)
            else:
                allowed.append(result)
        if not allowed:
            raise Refused(f"{host} resolves only to refused addresses: {refusals[0] if refusals else 'none'}")
        return allowed

    async def close(self) -> None:
        await self.inner.close()


def session(egress: Egress, ca_file: str | None = None) -> aiohttp.ClientSession:
    """A session whose connections are checked, TLS verified (against ``ca_file`` when given), timed out."""
    context = ssl.create_default_context(cafile=ca_file)
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(egress), use_dns_cache=False, ssl=context)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=egress.timeout), trust_env=False
    )


@contextlib.asynccontextmanager
async def request(
    session: aiohttp.ClientSession, permit: Permit, method: str, url: str, **kwargs: Any
) -> AsyncIterator[aiohttp.ClientResponse]:
    """One request under ``permit``, redirects not followed."""
    token = _PERMIT.set(permit)
    try:
        async with session.request(method, url, allow_redirects=False, **kwargs) as response:
            yield response
    finally:
        _PERMIT.reset(token)


async def read(response: aiohttp.ClientResponse, limit: int = MAX_BODY) -> bytes:
    body = await response.content.read(limit + 1)
    if len(body) > limit:
        raise Refused(f"the response is larger than {limit} bytes")
    return body


async def failure(response: aiohttp.ClientResponse, url: str) -> tuple[str, bytes]:
    """A failed response: its code and reason phrase, for a status field, and the start of its body
    (logged at debug level, truncated; for the caller to pick a known error code from, never to show)."""
    try:
        body = await response.content.read(64 * 1024)
    except (aiohttp.ClientError, TimeoutError):
        body = b""
    log.debug("%s answered %d: %.1000s", origin(url), response.status, body.decode(errors="replace"))
    return f"HTTP {response.status} {response.reason or ''}".rstrip(), body


def describe(exc: BaseException, url: str) -> str:
    """An exception of an outbound call, for a status field: no URL path, no response text."""
    if isinstance(exc, Refused):
        return f"refused: {exc}"
    if isinstance(exc, TimeoutError):
        return f"{origin(url)} did not answer in time"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS to {origin(url)} failed: {type(exc).__name__}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {origin(url)}: {exc.os_error.strerror or type(exc.os_error).__name__}"
    return f"{type(exc).__name__} talking to {origin(url)}"
