"""Expensive documents: a small file that costs a refill worker minutes or gigabytes to read
becomes one document error, quickly, and the refill goes on with the others.

Each test uploads a hostile document next to an ordinary one, with small limits set for the
test (never gigabytes), runs a refill and checks that it succeeded, that the hostile one is an
error the job page shows, that the ordinary one is searchable, and that it all took seconds.
"""

from __future__ import annotations

import random
import time

import pytest
from django.test import Client

from datasets.models import RefillJob
from datasets.selectors import chunk_search
from tests.datasets.files import make_docx, make_flate_pdf, make_zip

pytestmark = pytest.mark.django_db

ORDINARY = {"ordinary.txt": "the ordinary document mentions wombats " * 20}
# Text operators a PDF reader must interpret one by one: about six seconds of pypdf per
# 35 000 lines on this machine, from a file of about 3 KB.
SLOW_PAGE = b"BT /F1 12 Tf 0 0 Td (x) Tj ET\n" * 35_000
# trafilatura's extraction grows faster than the page: about three seconds for 66 KB.
SLOW_HTML = (
    "<html><body>" + "<div><p>word salad here</p></div>" * 2000 + "</body></html>"
).encode()


def _refill(dataset, upload, refill_now, files: dict) -> tuple[RefillJob, float]:
    upload(dataset, {**ORDINARY, **files})
    started = time.monotonic()
    job = refill_now(dataset)
    return job, time.monotonic() - started


def _errors(job: RefillJob) -> dict[str, str]:
    return {error["key"]: error["message"] for error in job.errors}


def _ordinary_indexed(owner, dataset) -> bool:
    hits = chunk_search(user=owner, query="wombats", dataset_ids=[dataset.pk], limit=5)
    return [hit.key for hit in hits] == ["upload:ordinary.txt"]


def test_a_pdf_whose_page_inflates_past_the_limit_is_a_document_error(
    settings, dataset, upload, refill_now, owner
):
    settings.AIPORTAL_DOCUMENT_MAX_EXPANDED_BYTES = 2**20
    bomb = make_flate_pdf(b"0" * 20_000_000)  # 20 MB of zeros in about 20 KB
    assert len(bomb) < 30_000
    job, took = _refill(dataset, upload, refill_now, {"bomb.pdf": bomb})
    assert job.status == RefillJob.Status.SUCCEEDED
    assert "expands past 1048576 bytes" in _errors(job)["upload:bomb.pdf"]
    assert _ordinary_indexed(owner, dataset)
    assert took < 10


def test_a_pdf_that_reads_too_long_is_stopped_at_its_deadline(
    settings, dataset, upload, refill_now, owner
):
    settings.AIPORTAL_DOCUMENT_EXTRACT_TIMEOUT = 0.5
    job, took = _refill(dataset, upload, refill_now, {"slow.pdf": make_flate_pdf(SLOW_PAGE)})
    assert job.status == RefillJob.Status.SUCCEEDED
    assert "took longer than 0.5 seconds" in _errors(job)["upload:slow.pdf"]
    assert _ordinary_indexed(owner, dataset)
    assert took < 4


def test_the_job_page_shows_the_error_to_the_person_who_refilled(
    settings, dataset, upload, refill_now, owner
):
    settings.AIPORTAL_DOCUMENT_EXTRACT_TIMEOUT = 0.5
    job, _ = _refill(dataset, upload, refill_now, {"slow.pdf": make_flate_pdf(SLOW_PAGE)})
    client = Client()
    client.force_login(owner)
    shown = client.get(f"/datasets/api/jobs/{job.pk}/").json()
    assert shown["counts"]["errors"] == 1
    assert "took longer" in shown["errors"][0]["message"]


def test_a_huge_html_page_is_stopped_at_its_deadline(settings, dataset, upload, refill_now, owner):
    settings.AIPORTAL_DOCUMENT_EXTRACT_TIMEOUT = 0.5
    job, took = _refill(dataset, upload, refill_now, {"page.html": SLOW_HTML})
    assert "took longer" in _errors(job)["upload:page.html"]
    assert _ordinary_indexed(owner, dataset)
    assert took < 4


def test_a_docx_whose_parts_expand_past_the_limit_is_a_document_error(
    settings, dataset, upload, refill_now, owner
):
    settings.AIPORTAL_DOCUMENT_MAX_EXPANDED_BYTES = 2**20
    words = random.Random(7).choices(["alpha", "beta", "gamma", "delta", "omega"], k=400_000)
    bloated = make_docx(title="t", heading="h", paragraphs=[" ".join(words)], table=[["a"]])
    job, _ = _refill(dataset, upload, refill_now, {"bloated.docx": bloated})
    assert "the .docx expands past 1048576 bytes" in _errors(job)["upload:bloated.docx"]
    assert _ordinary_indexed(owner, dataset)


def test_an_archive_of_slow_documents_stops_at_the_archives_deadline(
    settings, dataset, upload, refill_now, owner
):
    settings.AIPORTAL_DOCUMENT_EXTRACT_TIMEOUT = 0.5
    settings.AIPORTAL_ARCHIVE_EXTRACT_TIMEOUT = 1
    settings.AIPORTAL_ZIP_MAX_RATIO = 10_000  # the pages repeat themselves: no bomb check here
    pages = {f"page{n}.html": SLOW_HTML for n in range(8)}
    job, took = _refill(dataset, upload, refill_now, {"pages.zip": make_zip(pages)})
    errors = _errors(job)
    assert len([key for key in errors if key.startswith("upload:pages.zip!")]) == 8
    assert sum("the archive took longer than 1 seconds" in m for m in errors.values()) >= 5
    assert _ordinary_indexed(owner, dataset)
    assert took < 5


def test_a_markdown_heading_of_many_spaces_reads_in_linear_time(dataset, upload, refill_now, owner):
    hostile = "# a" + " " * 40_000 + "b\n\nthe heading above is long"
    job, took = _refill(dataset, upload, refill_now, {"spaces.md": hostile})
    assert job.status == RefillJob.Status.SUCCEEDED and not job.errors
    assert took < 3


def test_an_ordinary_pdf_still_reads_through_the_bounded_reader(dataset, upload, refill_now, owner):
    job, _ = _refill(
        dataset, upload, refill_now, {"fine.pdf": make_flate_pdf(b"BT /F1 12 Tf (quokka) Tj ET")}
    )
    assert not job.errors
    hits = chunk_search(user=owner, query="quokka", dataset_ids=[dataset.pk], limit=5)
    assert [hit.key for hit in hits] == ["upload:fine.pdf"]
