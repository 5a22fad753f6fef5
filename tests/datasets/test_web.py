"""URL lists and sitemaps against real listeners on 127.0.0.1, reached as "localhost" through
the admin allow-list (no machine here has a public address). The refusal path is proven in
test_fetch.py and once more here: without the allow-list nothing is fetched."""

from __future__ import annotations

import gzip

import pytest

from datasets.sources import iter_documents, source_config_check
from datasets.sources.base import DocumentError, SourceDocument, SourceError
from tests.datasets.files import make_pdf
from tests.datasets.listener import Listeners

HTML = {"Content-Type": "text/html; charset=utf-8"}
XML = {"Content-Type": "application/xml"}
PAGE = b"""<html><head><title>Page %s</title></head><body><article><p>This is page %s, a
paragraph long enough to be the main text of the page, with a second sentence.</p></article>
</body></html>"""


@pytest.fixture
def site(settings):
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = ["localhost"]
    with Listeners() as started:
        listener = started.start()
        listener.base = f"http://localhost:{listener.port}"
        yield listener


def urlset(*locs: str) -> bytes:
    body = "".join(f"<url><loc>{loc}</loc><lastmod>2026-01-01</lastmod></url>" for loc in locs)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>'
    ).encode()


def index(*locs: str) -> bytes:
    body = "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locs)
    return (
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</sitemapindex>'
    ).encode()


def collect(kind, config, known=lambda key, checksum: False):
    return list(iter_documents(kind=kind, config=config, files_dir=None, known=known))


def test_a_url_list_gives_one_document_per_page(site):
    site.routes.update(
        {
            "/a": (200, HTML, PAGE % (b"A", b"A")),
            "/report.pdf": (200, {"Content-Type": "application/pdf"}, make_pdf(["Annual report"])),
            "/gone": (404, HTML, b"no"),
        }
    )
    urls = [f"{site.base}/a", f"{site.base}/report.pdf", f"{site.base}/gone"]
    docs = collect("urls", {"urls": urls})
    assert [type(doc) for doc in docs] == [SourceDocument, SourceDocument, DocumentError]
    page, pdf, gone = docs
    assert (page.key, page.title, page.url) == (urls[0], "Page A", urls[0])
    assert "This is page A" in page.text
    assert page.content_type == "text/html"
    assert pdf.content_type == "application/pdf"
    assert "Annual report" in pdf.text
    assert gone.key == urls[2]
    assert "404" in gone.message


def test_a_redirected_page_cites_where_it_ended(site):
    site.routes.update(
        {"/old": (301, {"Location": "/new"}, b""), "/new": (200, HTML, PAGE % (b"N", b"N"))}
    )
    (doc,) = collect("urls", {"urls": [f"{site.base}/old"]})
    assert doc.key == f"{site.base}/old"
    assert doc.url == f"{site.base}/new"


def test_a_server_error_fails_the_whole_source_so_nothing_is_dropped(site):
    site.routes.update({"/a": (200, HTML, PAGE % (b"A", b"A")), "/b": (503, HTML, b"busy")})
    with pytest.raises(SourceError) as caught:
        collect("urls", {"urls": [f"{site.base}/a", f"{site.base}/b"]})
    assert caught.value.retryable is True


def test_without_the_allow_list_a_local_page_is_refused_and_never_reached(site, settings):
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = []
    site.routes["/a"] = (200, HTML, PAGE % (b"A", b"A"))
    (error,) = collect("urls", {"urls": [f"{site.base}/a"]})
    assert isinstance(error, DocumentError)
    assert "loopback" in error.message
    assert site.connections == 0


def test_a_known_page_is_fetched_but_not_extracted(site):
    site.routes["/a"] = (200, HTML, b"<html><body><p>x</p></body></html>")
    (doc,) = collect("urls", {"urls": [f"{site.base}/a"]}, known=lambda key, checksum: True)
    assert doc.text is None
    assert doc.size == len(b"<html><body><p>x</p></body></html>")


def test_a_sitemap_index_lists_the_pages_of_its_sitemaps(site):
    base = site.base
    site.routes.update(
        {
            "/sitemap.xml": (200, XML, index(f"{base}/s1.xml", f"{base}/s2.xml.gz")),
            "/s1.xml": (200, XML, urlset(f"{base}/p1", f"{base}/p2")),
            "/s2.xml.gz": (
                200,
                {"Content-Type": "application/gzip"},
                gzip.compress(urlset(f"{base}/p2", f"{base}/p3", "javascript:alert(1)")),
            ),
            "/p1": (200, HTML, PAGE % (b"1", b"1")),
            "/p2": (200, HTML, PAGE % (b"2", b"2")),
            "/p3": (200, HTML, PAGE % (b"3", b"3")),
        }
    )
    docs = collect("sitemap", {"url": f"{base}/sitemap.xml"})
    errors = [doc for doc in docs if isinstance(doc, DocumentError)]
    pages = [doc for doc in docs if isinstance(doc, SourceDocument)]
    assert [doc.title for doc in pages] == ["Page 1", "Page 2", "Page 3"]
    assert [error.key for error in errors] == ["javascript:alert(1)"]


def test_a_sitemap_over_the_url_cap_fails_clearly(site, settings):
    settings.AIPORTAL_SITEMAP_MAX_URLS = 2
    site.routes["/sitemap.xml"] = (200, XML, urlset(*(f"{site.base}/p{i}" for i in range(3))))
    with pytest.raises(SourceError) as caught:
        collect("sitemap", {"url": f"{site.base}/sitemap.xml"})
    assert "more than 2 pages" in caught.value.message
    assert caught.value.retryable is False
    assert [path for path, _headers in site.requests] == ["/sitemap.xml"]


def test_sitemap_indexes_nested_too_deep_are_refused(site, settings):
    settings.AIPORTAL_SITEMAP_MAX_DEPTH = 1
    site.routes.update(
        {
            "/i0.xml": (200, XML, index(f"{site.base}/i1.xml")),
            "/i1.xml": (200, XML, index(f"{site.base}/s.xml")),
            "/s.xml": (200, XML, urlset(f"{site.base}/p")),
        }
    )
    with pytest.raises(SourceError, match="nest deeper than 1"):
        collect("sitemap", {"url": f"{site.base}/i0.xml"})
    assert "/s.xml" not in [path for path, _headers in site.requests]


def test_a_sitemap_index_that_lists_itself_ends(site):
    site.routes["/loop.xml"] = (200, XML, index(f"{site.base}/loop.xml"))
    assert collect("sitemap", {"url": f"{site.base}/loop.xml"}) == []
    assert len(site.requests) == 1


def test_an_entity_bomb_sitemap_is_refused(site):
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<urlset><url><loc>&lol2;</loc></url></urlset>"
    )
    site.routes["/sitemap.xml"] = (200, XML, bomb)
    with pytest.raises(SourceError, match="not a readable sitemap") as caught:
        collect("sitemap", {"url": f"{site.base}/sitemap.xml"})
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"<html><body>hi</body></html>", "root element is <html>"), (b"<urlset>", "not a readable")],
)
def test_something_that_is_not_a_sitemap_says_so(site, body, message):
    site.routes["/sitemap.xml"] = (200, XML, body)
    with pytest.raises(SourceError, match=message):
        collect("sitemap", {"url": f"{site.base}/sitemap.xml"})


def test_a_sitemap_that_cannot_be_fetched_fails_the_source(site):
    with pytest.raises(SourceError, match="404"):
        collect("sitemap", {"url": f"{site.base}/missing.xml"})


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "http://127.0.0.1/", "http://a:b@example.com/", "", None]
)
def test_the_config_of_a_url_source_refuses_what_will_never_be_fetched(url):
    with pytest.raises(ValueError):
        source_config_check(kind="urls", config={"urls": [url]})
    with pytest.raises(ValueError):
        source_config_check(kind="sitemap", config={"url": url})


def test_the_config_of_a_url_source_is_normalised():
    config = source_config_check(
        kind="urls",
        config={
            "urls": "https://Example.COM./a#top\nhttps://example.com/a  https://b\u00fccher.example"
        },
    )
    assert config == {"urls": ["https://example.com/a", "https://xn--bcher-kva.example/"]}
    assert source_config_check(kind="sitemap", config={"url": "https://example.com/s.xml"}) == {
        "url": "https://example.com/s.xml"
    }


def test_the_config_of_a_url_source_has_a_cap(settings):
    settings.AIPORTAL_SITEMAP_MAX_URLS = 2
    urls = [f"https://example.com/{i}" for i in range(3)]
    with pytest.raises(ValueError, match="at most 2"):
        source_config_check(kind="urls", config={"urls": urls})
    with pytest.raises(ValueError, match="at least one"):
        source_config_check(kind="urls", config={"urls": []})
