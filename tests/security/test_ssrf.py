"""Server-side request forgery, through every place aiportal takes a URL from a person.

The places: a dataset's URL list and sitemap (datasets/sources/fetch.py is the one fetcher
both go through, sitemap entries and redirects included) and the /v1 API, whose body could
try to name another upstream. tests/datasets/test_fetch.py proves the fetcher itself case by
case; here the same attacks come in by the front door (the dataset pages and a refill), and
a real listener on loopback counts the connections it receives: a refused fetch leaves it at
zero.

Not tested as SSRF, by design: the gateway's worker URLs (AIPORTAL_WORKERS and the Worker
rows in admin) are internal addresses that an admin sets on purpose — workers live on the
internal network (DESIGN.md, "Trust boundaries") — so reaching a private address there is the
feature, and the trust decision is the admin's (SECURITY.md says so).
"""

from __future__ import annotations

import httpx
import pytest
from django.test import Client

from datasets.models import Document, RefillJob, Source
from datasets.sources import source_config_check
from tests.datasets.listener import Listeners
from tests.gateway.api_support import FAST, bearer, key_for

pytestmark = pytest.mark.django_db

TEXT = {"Content-Type": "text/plain"}
SECRET = (200, TEXT, b"internal secret")


@pytest.fixture
def listeners():
    with Listeners() as started:
        yield started


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# Each reaches loopback (or another refused address) for at least one URL parser.
CONFUSED = [
    "http://a@127.0.0.1/",
    "http://a:b@127.0.0.1:{port}/",
    "http://127.0.0.1#@example.com/",
    "http://127.0.0.1?@example.com/",
    "http://example.com\\@127.0.0.1/",
    "http://example.com\\\\127.0.0.1/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]/",
    "http://[::1]:{port}/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://2130706433:{port}/",
    "http://0x7f000001/",
    "http://0x7f.0.0.1/",
    "http://0177.0.0.1/",
    "http://0177.1/",
    "http://127.1/",
    "http://127.0.0.1.:{port}/",
    "HTTP://127.0.0.1:{port}/",
    "hTtPs://[::1]/",
    "http://127.0.0.1\t.example.com/",
    "http://exa\tmple.com@127.0.0.1/",
    "http://127.0.0.1%09/",
    "http://%31%32%37.0.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://0.0.0.0:{port}/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:{port}/",
]


def test_the_dataset_pages_refuse_every_confusing_url_before_saving_it(owner, dataset):
    client = _client(owner)
    saved = []
    for url in CONFUSED:
        url = url.replace("{port}", "8000")
        for kind, field in (("urls", "urls"), ("sitemap", "url")):
            answer = client.post(f"/datasets/{dataset.pk}/sources/", {"kind": kind, field: url})
            assert answer.status_code == 302  # back to the page, with a flash saying why
            if dataset.sources.exists():
                saved.append((kind, url))
                dataset.sources.all().delete()
    assert saved == []


def test_a_refill_never_reaches_loopback_even_with_sources_saved_around_the_check(
    owner, dataset, refill_now, listeners
):
    # Source rows written straight to the database (as an old version or an admin import
    # might have): the refill checks again and the listener hears nothing.
    target = listeners.start({"/": SECRET})
    urls = [url.replace("{port}", str(target.port)) for url in CONFUSED]
    for url in urls:
        Source.objects.create(dataset=dataset, kind="urls", config={"urls": [url]})
        Source.objects.create(dataset=dataset, kind="sitemap", config={"url": url})
    job = refill_now(dataset)
    # Refused as a bad config or as a page: either way, no document and no connection.
    assert job.status in {RefillJob.Status.SUCCEEDED, RefillJob.Status.FAILED}
    assert job.errors or job.message
    assert not Document.objects.filter(text__contains="internal secret").exists()
    assert target.connections == 0


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "localhost.", "LocalHost."])
def test_a_name_that_resolves_to_loopback_is_refused_at_fetch_time(
    host, owner, dataset, refill_now, listeners
):
    # The name passes the config check (nothing is resolved then) and is refused when the
    # real resolver answers 127.0.0.1 at refill time.
    target = listeners.start(
        {"/": SECRET, "/sitemap.xml": (200, {"Content-Type": "text/xml"}, b"")}
    )
    client = _client(owner)
    url = f"http://{host}:{target.port}/"
    client.post(f"/datasets/{dataset.pk}/sources/", {"kind": "urls", "urls": url})
    client.post(f"/datasets/{dataset.pk}/sources/", {"kind": "sitemap", "url": url + "sitemap.xml"})
    assert dataset.sources.count() == 2
    job = refill_now(dataset)
    assert target.connections == 0
    assert "loopback" in (job.message + " ".join(e["message"] for e in job.errors))


LOOPBACK_LOCATIONS = [
    "http://127.0.0.1:{port}/secret",
    "http://[::ffff:127.0.0.1]:{port}/secret",
    "http://[::1]:{port}/secret",
    "http://2130706433:{port}/secret",
    "http://0x7f.1:{port}/secret",
    "http://127.0.0.1.:{port}/secret",
    "http://a@127.0.0.1:{port}/secret",
    "HTTP://127.0.0.1:{port}/secret",
    "//127.0.0.1:{port}/secret",
    "http://169.254.169.254/latest/meta-data/",
]


@pytest.mark.parametrize("location", LOOPBACK_LOCATIONS)
def test_a_page_that_redirects_to_loopback_gets_nothing_from_it(
    location, owner, dataset, refill_now, listeners, settings
):
    # The first hop is an internal site the admin allowed by name; the allow-list names
    # hosts, so a redirect to a loopback literal is still refused.
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = ["localhost"]
    inner = listeners.start({"/secret": SECRET})
    outer = listeners.start({"/": (302, {"Location": location.format(port=inner.port)}, b"")})
    _client(owner).post(
        f"/datasets/{dataset.pk}/sources/",
        {"kind": "urls", "urls": f"http://localhost:{outer.port}/"},
    )
    job = refill_now(dataset)
    assert outer.connections == 1
    assert inner.connections == 0
    assert len(job.errors) == 1
    assert not Document.objects.filter(text__contains="internal secret").exists()


def test_a_sitemap_cannot_list_or_redirect_its_way_to_loopback(
    owner, dataset, refill_now, listeners, settings
):
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = ["localhost"]
    inner = listeners.start({"/secret": SECRET, "/index.xml": SECRET})
    locs = [location.format(port=inner.port) for location in LOOPBACK_LOCATIONS]
    urlset = "".join(f"<url><loc>{loc}</loc></url>" for loc in locs)
    site = listeners.start(
        {
            "/sitemap.xml": (
                200,
                {"Content-Type": "application/xml"},
                (
                    '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                    f"<sitemap><loc>http://127.0.0.1:{inner.port}/index.xml</loc></sitemap>"
                    "<sitemap><loc>/pages.xml</loc></sitemap></sitemapindex>"
                ).encode(),
            ),
            "/pages.xml": (
                200,
                {"Content-Type": "application/xml"},
                f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urlset}</urlset>'.encode(),
            ),
        }
    )
    _client(owner).post(
        f"/datasets/{dataset.pk}/sources/",
        {"kind": "sitemap", "url": f"http://localhost:{site.port}/sitemap.xml"},
    )
    refill_now(dataset)
    assert site.connections >= 1
    assert inner.connections == 0


def test_the_config_check_refuses_whitespace_a_text_box_would_not_split():
    for url in ["http://127.0.0.1\t/", "http://exa mple.com/", "http://example.com\n.evil/"]:
        with pytest.raises(ValueError):
            source_config_check(kind="urls", config={"urls": [url]})


@pytest.mark.django_db(transaction=True)
def test_v1_refuses_a_body_that_names_another_upstream(api, owner, listeners):
    target = listeners.start({"/v1/chat/completions": SECRET})
    token = key_for(owner)
    for field in ["api_base", "base_url", "url", "endpoint", "proxy", "extra_query", "headers"]:
        body = {
            "model": FAST,
            "messages": [{"role": "user", "content": "hi"}],
            field: f"http://127.0.0.1:{target.port}/v1",
        }
        answer = httpx.post(f"{api.v1}/chat/completions", json=body, headers=bearer(token))
        assert answer.status_code == 400, field
        assert answer.json()["error"]["param"] == field
    assert target.connections == 0
