"""The project's one seam for fetching a URL that a user or an admin supplied (SSRF-safe).

Every such fetch calls ``url_fetch``; nothing else in aiportal opens a connection to an
address a person typed. What it guarantees:

- The URL is parsed once, by us, and the request is built from the parts we checked: no second
  parser that could read ``http://a\\@127.0.0.1`` or ``http://0x7f.1/`` differently.
- The host name is resolved once (``resolve``) and every address it resolves to is checked;
  one refused address refuses the URL.
- The connection goes to the address that was checked: httpcore's network backend is the
  only place a socket is opened, and ours ignores the host name httpcore hands it and dials
  the vetted address (``dial``). TLS still verifies the certificate for the host name and
  sends it as SNI, and the ``Host`` header is the name, so virtual hosts work. This is why
  httpcore (already under httpx) rather than aiohttp with a custom resolver: the pinning is a
  connect-time fact rather than a resolver cache, and the refills that fetch run in
  synchronous Celery tasks, where an event loop per fetch would be ceremony.
- Redirects are not followed by the client: each hop is parsed, resolved and checked again,
  at most ``AIPORTAL_FETCH_MAX_REDIRECTS`` of them.
- The whole fetch, redirects included, has one deadline, enforced on every socket operation;
  the body is streamed and abandoned past the size cap; only the content types the
  extractors read are accepted.

Admins may name internal hosts in ``AIPORTAL_FETCH_ALLOW_HOSTS``: their private and loopback
addresses are then accepted (never multicast, unspecified or a cloud metadata address).
"""

from __future__ import annotations

import concurrent.futures
import functools
import ipaddress
import os
import re
import socket
import ssl
import time
import zlib
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

import httpcore
import httpx
import idna
from django.conf import settings

from datasets.sources.base import SourceError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# What the extractors read (datasets/sources/formats.py). Zip archives are upload- and
# folder-only: a URL is one document.
PAGE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "text/plain",
        "text/markdown",
        "text/x-markdown",
        "text/csv",
        "application/json",
        "application/x-ndjson",
        "application/jsonl",
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
)
XML_TYPES = frozenset({"application/xml", "text/xml"})

_USER_AGENT = "aiportal-fetcher/1 (dataset refill)"
_REDIRECTS = {301, 302, 303, 307, 308}
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
# The last label decides whether a browser (WHATWG) reads a host as an IPv4 number: "2130706433",
# "0x7f.1", "0177.0.0.1". We refuse them all rather than guess which reading a resolver picks.
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_DOTTED_QUAD = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$")

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_COMPAT = ipaddress.ip_network("::/96")
_METADATA = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)


@dataclass(frozen=True, slots=True)
class Target:
    """A URL as we parsed it; the request is built from these parts and nothing else."""

    scheme: str
    host: str  # lowercase ASCII (IDNA), no trailing dot; an IP literal in canonical form
    port: int
    target: str  # path and query, percent-encoded ASCII
    ip: IPAddress | None  # set when the host is an IP literal

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if isinstance(self.ip, ipaddress.IPv6Address) else self.host
        default = 443 if self.scheme == "https" else 80
        netloc = host if self.port == default else f"{host}:{self.port}"
        return f"{self.scheme}://{netloc}{self.target}"


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # the final URL, after redirects
    content_type: str  # media type, lowercase, without parameters
    charset: str  # from the Content-Type header, "" if none
    body: bytes


def _refuse(message: str) -> SourceError:
    return SourceError(message, retryable=False)


def url_parse(url: str) -> Target:
    """Parse and check a URL without resolving it; raises SourceError(retryable=False)."""
    if not isinstance(url, str) or not url:
        raise _refuse("the URL is empty")
    if len(url) > 4096:
        raise _refuse("the URL is longer than 4096 characters")
    # Browsers read "\\" as "/", urllib reads it as part of the user name: refuse the ambiguity.
    if "\\" in url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise _refuse(f"{url!r} contains a backslash, a space or a control character")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise _refuse(f"{url!r} is not an http or https URL")
    if "@" in parts.netloc:
        raise _refuse(f"{url!r} carries credentials; put no user name or password in a URL")
    try:
        port = parts.port
    except ValueError:
        raise _refuse(f"{url!r} has an invalid port") from None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    if port == 0:
        raise _refuse(f"{url!r} has an invalid port")
    raw_host = parts.hostname or ""
    if not raw_host:
        raise _refuse(f"{url!r} has no host")
    if "%" in raw_host:
        raise _refuse(f"{url!r}: no percent sign (encoded name, IPv6 zone) may be in a host")
    ip: IPAddress | None = None
    if parts.netloc.split("@")[-1].startswith("["):
        try:
            ip = ipaddress.IPv6Address(raw_host)
        except ValueError:
            raise _refuse(f"{url!r} has an invalid IPv6 address") from None
        host = str(ip)
    else:
        host = raw_host[:-1] if raw_host.endswith(".") else raw_host
        if _DOTTED_QUAD.match(host):
            try:  # refuses leading zeros (octal to some parsers) and numbers over 255
                ip = ipaddress.IPv4Address(host)
            except ValueError:
                raise _refuse(f"{url!r}: write IPv4 as a.b.c.d, no leading zeros") from None
            host = str(ip)
        elif _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
            raise _refuse(
                f"{url!r}: write an IPv4 address as four decimal numbers (a.b.c.d), "
                "without leading zeros, hex or octal"
            )
        else:
            host = _host_ascii(host, url)
    target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        target += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return Target(scheme=parts.scheme, host=host, port=port, target=target, ip=ip)


def _host_ascii(host: str, url: str) -> str:
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise _refuse(f"{url!r} has a host name that is not valid IDNA") from None
    host = host.lower()
    if not _HOST_NAME.match(host):
        raise _refuse(f"{url!r} has an invalid host name")
    return host


def url_check(url: str) -> str:
    """Check a URL as far as can be done without resolving it (for a source's config): the
    normalised URL, or SourceError. An IP literal is checked here already."""
    target = url_parse(url)
    if target.ip is not None and not _host_allowed(target.host):
        reason = address_refusal(target.ip, allowed=False)
        if reason:
            raise _refuse(f"{url!r} points at a refused address ({reason})")
    return target.url


def _host_allowed(host: str) -> bool:
    allowed = set()
    for name in settings.AIPORTAL_FETCH_ALLOW_HOSTS:
        name = name.strip().lower().rstrip(".")
        try:
            allowed.add(str(ipaddress.ip_address(name.strip("[]"))))
        except ValueError:
            allowed.add(name)
    return host in allowed


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IPAddress, *, allowed: bool) -> str:
    """Why ``ip`` must not be connected to ("" if it may). ``allowed``: the host name is on
    the admin's allow-list, so private and loopback addresses are accepted."""
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip in _METADATA:
        return "cloud metadata"
    if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
        return "broadcast"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "scoped link-local"
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = address_refusal(inner, allowed=allowed)
            return f"{reason} (inside an IPv6 address)" if reason else ""
        if ip in _COMPAT and not ip.is_loopback:
            return "IPv4-compatible (deprecated)"
    if allowed:
        return ""
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "shared (CGNAT)"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "non-public"
    return ""


def resolve(host: str, port: int) -> list[str]:
    """The one name resolution of a fetch. Tests replace this to play DNS."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: list[str] = []
    for *_, sockaddr in infos:
        if sockaddr[0] not in seen:
            seen.append(sockaddr[0])
    return seen


def dial(ip: str, port: int, timeout: float | None) -> httpcore.NetworkStream:
    """The one place a fetch opens a socket, to an address already checked."""
    return httpcore.SyncBackend().connect_tcp(ip, port, timeout=timeout)


# getaddrinfo takes no timeout and a resolver that does not answer holds it for tens of
# seconds: it runs here so the fetch's deadline holds. A lookup given up on finishes in its
# thread and is ignored; a few threads bound how many can pile up.
_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="fetch-dns")


def target_addresses(target: Target, deadline: _Deadline | None = None) -> list[IPAddress]:
    """Resolve once and check every address: the addresses to dial, or SourceError."""
    allowed = _host_allowed(target.host)
    if target.ip is not None:
        addresses: list[IPAddress] = [target.ip]
    else:
        try:
            lookup = _resolver.submit(resolve, target.host, target.port)
            found = lookup.result(timeout=deadline.left() if deadline else None)
        except TimeoutError:
            raise SourceError(
                f"{target.host}: resolving the name timed out", retryable=True
            ) from None
        except socket.gaierror as exc:
            raise SourceError(
                f"{target.host} cannot be resolved ({exc.strerror})",
                retryable=exc.errno == socket.EAI_AGAIN,
            ) from None
        addresses = []
        for text in found:
            try:
                addresses.append(ipaddress.ip_address(text))
            except ValueError:
                raise _refuse(f"{target.host} resolved to {text!r}, not an address") from None
        if not addresses:
            raise SourceError(f"{target.host} has no address", retryable=True)
    for ip in addresses:
        reason = address_refusal(ip, allowed=allowed)
        if reason:
            hint = "" if allowed else " (an admin may allow it in AIPORTAL_FETCH_ALLOW_HOSTS)"
            raise _refuse(f"{target.host} resolves to {ip}, a refused address ({reason}){hint}")
    return addresses


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def clip(self, timeout: float | None) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the fetch took longer than its time limit")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """Every read and write waits no longer than what is left of the whole fetch's time."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.clip(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.clip(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(ssl_context, server_hostname, self._deadline.clip(timeout))
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> object:
        return self._stream.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Dials the vetted addresses whatever host name httpcore asks for: no second lookup."""

    def __init__(self, addresses: list[IPAddress], deadline: _Deadline) -> None:
        self._addresses = addresses
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: object = None,
    ) -> httpcore.NetworkStream:
        error: Exception | None = None
        for ip in self._addresses:
            try:
                stream = dial(str(ip), port, self._deadline.clip(timeout))
            except httpcore.ConnectError as exc:
                error = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        assert error is not None
        raise error

    def connect_unix_socket(self, *args: object, **kwargs: object) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are never fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _media_type(header: str) -> tuple[str, str]:
    media, _, params = header.partition(";")
    charset = ""
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower()
    return media.strip().lower(), charset


@functools.lru_cache(maxsize=4)
def _ssl_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    # Loading the CA bundle costs milliseconds, once per hop of thousands: kept, per the
    # SSL_CERT_FILE / SSL_CERT_DIR an operator may point at their own CA (httpx honours both).
    return httpx.create_ssl_context()


_TRANSPORT_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ConnectionNotAvailable,
)


def _failure(url: str, exc: Exception) -> SourceError:
    if isinstance(exc, httpcore.TimeoutException):
        return SourceError(f"{url}: timed out", retryable=True)
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return _refuse(f"{url}: the TLS certificate is not valid ({cause.verify_message})")
    if isinstance(exc, httpcore.LocalProtocolError):
        return _refuse(f"{url}: the request could not be sent ({exc})")
    return SourceError(f"{url}: {type(exc).__name__} ({exc})", retryable=True)


def url_fetch(
    url: str,
    *,
    accept: frozenset[str] = PAGE_TYPES,
    max_bytes: int | None = None,
    timeout: float | None = None,
) -> Fetched:
    """GET ``url`` under every rule in this module's docstring, or raise SourceError:
    retryable for timeouts, connection failures, 408/429 and 5xx; not for a refused address,
    another 4xx, a refused content type or a body over the cap."""
    max_bytes = settings.AIPORTAL_DOCUMENT_MAX_BYTES if max_bytes is None else max_bytes
    deadline = _Deadline(settings.AIPORTAL_FETCH_TIMEOUT if timeout is None else timeout)
    target = url_parse(url)
    for _hop in range(settings.AIPORTAL_FETCH_MAX_REDIRECTS + 1):
        addresses = target_addresses(target, deadline)
        try:
            result = _get(target, addresses, accept=accept, max_bytes=max_bytes, deadline=deadline)
        except _TRANSPORT_ERRORS as exc:
            raise _failure(target.url, exc) from None
        if isinstance(result, Fetched):
            return result
        target = url_parse(urljoin(target.url, result))
    raise _refuse(f"{url}: more than {settings.AIPORTAL_FETCH_MAX_REDIRECTS} redirects")


def _get(
    target: Target,
    addresses: list[IPAddress],
    *,
    accept: frozenset[str],
    max_bytes: int,
    deadline: _Deadline,
) -> Fetched | str:
    """One hop: the response, or the Location it redirects to."""
    host = f"[{target.host}]" if isinstance(target.ip, ipaddress.IPv6Address) else target.host
    default = 443 if target.scheme == "https" else 80
    headers = [
        (b"Host", (host if target.port == default else f"{host}:{target.port}").encode()),
        (b"User-Agent", _USER_AGENT.encode()),
        (b"Accept", ", ".join(sorted(accept)).encode()),
        (b"Accept-Encoding", b"gzip, identity"),
        (b"Connection", b"close"),
    ]
    request_url = httpcore.URL(
        scheme=target.scheme.encode(),
        host=target.host.encode(),
        port=target.port,
        target=target.target.encode(),
    )
    pool = httpcore.ConnectionPool(
        ssl_context=_ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")),
        max_connections=1,
        max_keepalive_connections=0,
        retries=0,
        network_backend=_PinnedBackend(addresses, deadline),
    )
    limit = deadline.clip(None)
    timeouts = {"connect": limit, "read": limit, "write": limit, "pool": limit}
    with (
        pool,
        pool.stream(
            "GET", request_url, headers=headers, extensions={"timeout": timeouts}
        ) as response,
    ):
        status = response.status
        header = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
        if status in _REDIRECTS:
            location = header.get("location", "")
            if not location:
                raise _refuse(f"{target.url}: a redirect ({status}) without a Location")
            return location
        if status in {408, 429} or status >= 500:
            raise SourceError(f"{target.url}: the server answered {status}", retryable=True)
        if not 200 <= status < 300 or status == 206:
            raise _refuse(f"{target.url}: the server answered {status}")
        media, charset = _media_type(header.get("content-type", ""))
        if media not in accept:
            shown = media or "no content type"
            raise _refuse(f"{target.url}: {shown} is not a type aiportal reads")
        declared = header.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise _refuse(f"{target.url}: {declared} bytes is over the {max_bytes}-byte limit")
        body = _read_capped(response, header.get("content-encoding", "identity"), max_bytes, target)
    return Fetched(url=target.url, content_type=media, charset=charset, body=body)


def _read_capped(
    response: httpcore.Response, encoding: str, max_bytes: int, target: Target
) -> bytes:
    encoding = encoding.strip().lower()
    if encoding not in {"", "identity", "gzip", "x-gzip"}:
        raise _refuse(f"{target.url}: content encoding {encoding!r} is not supported")
    # A gzip body is capped on what it expands to, a piece at a time: a small compressed
    # answer must not become gigabytes in memory.
    inflate = zlib.decompressobj(wbits=31) if "gzip" in encoding else None
    parts: list[bytes] = []
    size = 0

    def add(piece: bytes) -> None:
        nonlocal size
        size += len(piece)
        if size > max_bytes:
            raise _refuse(f"{target.url}: the body is over the {max_bytes}-byte limit")
        parts.append(piece)

    for chunk in response.iter_stream():
        if inflate is None:
            add(chunk)
            continue
        try:
            add(inflate.decompress(chunk, max_bytes - size + 1))
            while inflate.unconsumed_tail:
                add(inflate.decompress(inflate.unconsumed_tail, max_bytes - size + 1))
        except zlib.error:
            raise _refuse(f"{target.url}: the gzip body is corrupt") from None
    return b"".join(parts)
