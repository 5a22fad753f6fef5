"""The SSRF-safe fetcher: every refusal happens before a socket is opened, redirects are checked
hop by hop, one resolution per hop, and the caps hold. Only 127.0.0.1 is ever dialled; where a
test plays a public host, it patches the one resolution and the one dial (the edge of the
world) and routes the dial to a listener on loopback, recording the address it was asked for."""

from __future__ import annotations

import gzip
import socket
import ssl
import subprocess
import threading

import httpcore
import pytest

from datasets.sources import fetch
from datasets.sources.base import SourceError
from tests.datasets.listener import Listeners, drip, hang

PUBLIC = "93.184.215.14"  # looks public; never dialled for real (see routed_dial)


@pytest.fixture
def listeners():
    with Listeners() as started:
        yield started


@pytest.fixture
def no_dial(monkeypatch):
    """Fails the test's fetch loudly if anything tries to open a socket."""
    dialled: list[tuple[str, int]] = []

    def refuse(ip, port, timeout):
        dialled.append((ip, port))
        raise AssertionError(f"dialled {ip}:{port}")

    monkeypatch.setattr(fetch, "dial", refuse)
    return dialled


@pytest.fixture
def dns(monkeypatch):
    """A resolver the test controls: a name maps to a list of answers, one per call (the
    last one repeats), and every call is recorded."""
    answers: dict[str, list[list[str]]] = {}
    calls: list[str] = []

    def resolve(host, port):
        calls.append(host)
        if host not in answers:
            raise AssertionError(f"unexpected lookup of {host}")
        queue = answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    monkeypatch.setattr(fetch, "resolve", resolve)
    return answers, calls


def routed_dial(monkeypatch, port: int) -> list[str]:
    """Every dial goes to 127.0.0.1:port; the address the fetcher asked for is recorded."""
    asked: list[str] = []
    real = fetch.dial

    def dial(ip, _port, timeout):
        asked.append(ip)
        return real("127.0.0.1", port, timeout)

    monkeypatch.setattr(fetch, "dial", dial)
    return asked


LITERALS = [
    "http://127.0.0.1/",
    "http://127.8.9.10:8080/",
    "http://localhost.localdomain@127.0.0.1/",
    "http://a@127.0.0.1/",
    "http://user:pass@example.com/",
    "http://example.com\\@127.0.0.1/",
    "http://127.0.0.1\\.example.com/",
    "http://127.0.0.1#@example.com/",
    "http://127.0.0.1?@example.com/",
    "http://127.0.0.1:80@example.com/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://0/",
    "http://0.0.0.0/",
    "http://127.0.0.1./",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::127.0.0.1]/",
    "http://[2002:7f00:1::]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[64:ff9b::127.0.0.1]/",
    "http://[64:ff9b:1::a00:1]/",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    "http://[fd00:ec2::254]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.1.1/",
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://192.0.2.1/",
    "http://198.18.0.1/",
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://example.com/",
    "http:///nohost",
    "http://example.com:99999/",
    "http://exa mple.com/",
    "http://example.com/\x00",
]


@pytest.mark.parametrize("url", LITERALS)
def test_it_refuses_tricky_literal_addresses_before_any_connection(url, no_dial, dns):
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch(url)
    assert caught.value.retryable is False
    assert no_dial == []
    assert dns[1] == []  # refused without even a lookup


@pytest.mark.parametrize("url", LITERALS)
def test_url_check_refuses_the_same_table(url):
    with pytest.raises(SourceError):
        fetch.url_check(url)


NAMES = [
    ["127.0.0.1"],
    ["::1"],
    [PUBLIC, "127.0.0.1"],  # one refused answer refuses the name
    ["127.0.0.1", PUBLIC],
    ["10.1.2.3"],
    ["100.127.0.1"],
    ["169.254.169.254"],
    ["::ffff:127.0.0.1"],
    ["::ffff:169.254.169.254"],
    ["64:ff9b::a9fe:a9fe"],
    ["2002:c0a8:101::1"],
    ["fe80::1%2"],
    ["fd00::1"],
    ["0.0.0.0"],  # noqa: S104 (an answer to refuse, nothing binds it)
    ["224.0.0.251"],
]


@pytest.mark.parametrize("answer", NAMES, ids=[",".join(a) for a in NAMES])
def test_it_refuses_a_name_that_resolves_to_a_refused_address(answer, no_dial, dns):
    answers, calls = dns
    answers["innocent.example"] = [answer]
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch("https://innocent.example/page")
    assert caught.value.retryable is False
    assert "refused address" in caught.value.message
    assert no_dial == []
    assert calls == ["innocent.example"]


def test_the_real_resolver_refuses_localhost(listeners):
    target = listeners.start({"/": (200, {"Content-Type": "text/plain"}, b"secret")})
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch(target.url(host="localhost"))
    assert "loopback" in caught.value.message
    assert "AIPORTAL_FETCH_ALLOW_HOSTS" in caught.value.message
    assert target.connections == 0


def test_an_allowed_host_is_fetched_and_only_that_name(listeners, settings):
    target = listeners.start({"/doc": (200, {"Content-Type": "text/plain; charset=utf-8"}, b"hi")})
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = ["LocalHost."]
    got = fetch.url_fetch(target.url("/doc", host="localhost"))
    assert (got.body, got.content_type, got.charset) == (b"hi", "text/plain", "utf-8")
    assert got.url == target.url("/doc", host="localhost")
    assert target.requests[0][1]["host"] == f"localhost:{target.port}"
    # The allow-list names a host, not its addresses: the literal stays refused.
    with pytest.raises(SourceError):
        fetch.url_fetch(target.url("/doc"))
    assert target.connections == 1


def test_an_allowed_host_still_never_reaches_the_metadata_address(settings, no_dial, dns):
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = ["wiki.internal"]
    dns[0]["wiki.internal"] = [["169.254.169.254"]]
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch("http://wiki.internal/")
    assert "cloud metadata" in caught.value.message
    assert no_dial == []


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/secret",
        "http://[::ffff:127.0.0.1]:{port}/secret",
        "http://2130706433:{port}/secret",
        "http://0x7f.1:{port}/secret",
        "http://user@127.0.0.1:{port}/secret",
        "http://127.0.0.1.:{port}/secret",
    ],
)
def test_a_redirect_to_loopback_reaches_nothing(location, listeners, settings):
    inner = listeners.start({"/secret": (200, {"Content-Type": "text/plain"}, b"secret")})
    outer = listeners.start(
        {"/": (302, {"Location": location.format(port=inner.port)}, b"")},
    )
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = ["localhost"]
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch(outer.url(host="localhost"))
    assert caught.value.retryable is False
    assert outer.connections == 1
    assert inner.connections == 0


def test_a_public_host_redirecting_to_loopback_reaches_nothing(listeners, monkeypatch, dns):
    inner = listeners.start({"/secret": (200, {"Content-Type": "text/plain"}, b"secret")})
    outer = listeners.start(
        {"/": (301, {"Location": f"http://localhost:{inner.port}/secret"}, b"")},
    )
    answers, calls = dns
    answers["public.example"] = [[PUBLIC]]
    answers["localhost"] = [["127.0.0.1"]]
    asked = routed_dial(monkeypatch, outer.port)
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch("http://public.example/")
    assert "loopback" in caught.value.message
    assert asked == [PUBLIC]
    assert calls == ["public.example", "localhost"]
    assert inner.connections == 0


def test_redirects_between_allowed_hosts_are_followed(listeners, settings):
    inner = listeners.start({"/b": (200, {"Content-Type": "text/html"}, b"<p>end</p>")})
    outer = listeners.start({"/a": (307, {"Location": inner.url("/b", host="localhost")}, b"")})
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = ["localhost"]
    got = fetch.url_fetch(outer.url("/a", host="localhost"))
    assert got.body == b"<p>end</p>"
    assert got.url == inner.url("/b", host="localhost")


def test_it_gives_up_after_the_redirect_limit(listeners, settings):
    loop = listeners.start({"/": (302, {"Location": "/"}, b"")})
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = ["localhost"]
    settings.AIPORTAL_FETCH_MAX_REDIRECTS = 3
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch(loop.url(host="localhost"))
    assert "more than 3 redirects" in caught.value.message
    assert caught.value.retryable is False
    assert loop.connections == 4


def test_dns_rebinding_cannot_work_because_a_hop_resolves_once(listeners, monkeypatch, dns):
    page = listeners.start({"/": (200, {"Content-Type": "text/plain"}, b"public page")})
    answers, calls = dns
    # A rebinding resolver: a public answer first, loopback to anyone who asks again.
    answers["rebind.example"] = [[PUBLIC], ["127.0.0.1"]]
    asked = routed_dial(monkeypatch, page.port)
    got = fetch.url_fetch("http://rebind.example/")
    assert got.body == b"public page"
    assert calls == ["rebind.example"]
    assert asked == [PUBLIC]
    assert page.requests[0][1]["host"] == "rebind.example"


def test_it_tries_the_next_checked_address_when_one_does_not_answer(listeners, monkeypatch, dns):
    page = listeners.start({"/": (200, {"Content-Type": "text/plain"}, b"ok")})
    answers, _calls = dns
    answers["two.example"] = [["2606:4700::1", PUBLIC]]
    asked: list[str] = []
    real = fetch.dial

    def dial(ip, _port, timeout):
        asked.append(ip)
        if ip != PUBLIC:
            raise httpcore.ConnectError("unreachable")
        return real("127.0.0.1", page.port, timeout)

    monkeypatch.setattr(fetch, "dial", dial)
    assert fetch.url_fetch("http://two.example/").body == b"ok"
    assert asked == ["2606:4700::1", PUBLIC]


@pytest.fixture
def local(listeners, settings):
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = ["localhost"]

    def start(routes):
        listener = listeners.start(routes)
        return listener, lambda path="/": listener.url(path, host="localhost")

    return start


def test_a_body_over_the_cap_is_refused_when_announced(local):
    _listener, url = local({"/": (200, {"Content-Type": "text/plain"}, b"x" * 2000)})
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch(url(), max_bytes=1000)
    assert "limit" in caught.value.message
    assert caught.value.retryable is False


def test_a_body_over_the_cap_is_refused_while_streaming(local):
    def unannounced(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(b"y" * 5000)

    _listener, url = local({"/": unannounced})
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch(url(), max_bytes=1000)
    assert "over the 1000-byte limit" in caught.value.message


def test_a_gzip_body_is_capped_on_what_it_expands_to(local):
    bomb = gzip.compress(b"\0" * 10_000_000)
    headers = {"Content-Type": "text/plain", "Content-Encoding": "gzip"}
    _listener, url = local(
        {"/bomb": (200, headers, bomb), "/ok": (200, headers, gzip.compress(b"fine"))}
    )
    assert len(bomb) < 100_000
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch(url("/bomb"), max_bytes=1_000_000)
    assert "limit" in caught.value.message
    assert fetch.url_fetch(url("/ok")).body == b"fine"


def test_a_server_that_never_answers_times_out_retryably(local):
    _listener, url = local({"/": hang})
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch(url(), timeout=0.5)
    assert caught.value.retryable is True
    assert "timed out" in caught.value.message


def test_a_body_that_never_ends_is_cut_by_the_total_time_limit(local):
    _listener, url = local({"/": drip})
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch(url(), timeout=0.5)
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    "content_type", ["image/png", "application/octet-stream", "application/zip", "", "text/htmlx"]
)
def test_a_content_type_the_extractors_do_not_read_is_refused(local, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    _listener, url = local({"/": (200, headers, b"\x89PNG")})
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch(url())
    assert caught.value.retryable is False
    assert "not a type aiportal reads" in caught.value.message


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(404, False), (403, False), (410, False), (429, True), (500, True), (503, True)],
)
def test_status_codes_say_whether_to_retry(local, status, retryable):
    _listener, url = local({"/": (status, {"Content-Type": "text/plain"}, b"no")})
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch(url())
    assert caught.value.retryable is retryable
    assert str(status) in caught.value.message


def test_a_closed_port_is_a_retryable_failure(settings):
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    with Listeners() as started:
        port = started.start().port
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch(f"http://127.0.0.1:{port}/")
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    ("errno", "retryable"), [(socket.EAI_NONAME, False), (socket.EAI_AGAIN, True)]
)
def test_an_unresolvable_name_is_a_clear_error(monkeypatch, errno, retryable):
    def resolve(host, port):
        raise socket.gaierror(errno, "lookup failed")

    monkeypatch.setattr(fetch, "resolve", resolve)
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch("http://no-such-host.example/")
    assert "cannot be resolved" in caught.value.message
    assert caught.value.retryable is retryable


def _certificate(tmp_path, name: str) -> tuple[str, str]:
    """A self-signed certificate for ``name`` (its own CA), made with the openssl command."""
    cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.fixture
def tls_site(tmp_path, listeners, settings, monkeypatch):
    def start(cert_name: str):
        cert, key = _certificate(tmp_path, cert_name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        names: list[str | None] = []
        context.sni_callback = lambda sock, name, ctx: names.append(name)
        listener = listeners.start(
            {"/": (200, {"Content-Type": "text/plain"}, b"over tls")}, tls=context
        )
        # The client trusts this certificate the way an operator would: SSL_CERT_FILE.
        monkeypatch.setenv("SSL_CERT_FILE", cert)
        settings.AIPORTAL_FETCH_ALLOW_HOSTS = ["localhost"]
        return listener, names

    return start


def test_tls_sends_the_host_name_as_sni_and_verifies_it_while_dialling_the_address(tls_site):
    listener, names = tls_site("localhost")
    got = fetch.url_fetch(f"https://localhost:{listener.port}/")
    assert got.body == b"over tls"
    assert names == ["localhost"]
    assert listener.requests[0][1]["host"] == f"localhost:{listener.port}"


def test_a_certificate_for_another_name_is_refused_for_good(tls_site):
    listener, _names = tls_site("other.example")
    with pytest.raises(SourceError) as caught:
        fetch.url_fetch(f"https://localhost:{listener.port}/")
    assert "certificate is not valid" in caught.value.message
    assert caught.value.retryable is False


def test_a_resolver_that_never_answers_is_held_to_the_deadline(monkeypatch, no_dial):
    release = threading.Event()

    def resolve(host, port):
        release.wait(30)
        return [PUBLIC]

    monkeypatch.setattr(fetch, "resolve", resolve)
    try:
        with pytest.raises(SourceError) as caught:
            fetch.url_fetch("http://slow-dns.example/", timeout=0.3)
    finally:
        release.set()
    assert caught.value.retryable is True
    assert "resolving the name timed out" in caught.value.message
    assert no_dial == []
