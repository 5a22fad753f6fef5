"""The dataset page in a real browser, under the real CSP: "Refill now" on a real Celery
worker, and the progress bar moving to complete through the socket, without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from datasets.models import RefillJob
from datasets.services.refill import dataset_refill_start
from tests.conftest import PASSWORD
from tests.datasets.conftest import WAIT, corpus, job_wait

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def _two_versions_ready(dataset, owner, upload, worker) -> RefillJob:
    """A first version of eight documents (so the next refill knows how many to expect),
    then a source that yields them changed, slowly (tests/datasets/slow_worker.py)."""
    upload(dataset, corpus(8))
    first = dataset_refill_start(dataset=dataset, user=owner)
    job_wait(first.pk, lambda j: j.status == "succeeded", worker=worker)
    dataset.sources.all().delete()
    changed = {name: text + " changed" for name, text in corpus(8).items()}
    upload(dataset, changed, kind="slow-upload")
    return first


def _watch(page) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    polled: list[str] = []

    def on_console(message):
        # CSP violations are console errors; a missing favicon is none of ours.
        if message.type == "error" and "status of 404" not in message.text:
            problems.append(message.text)

    def on_response(response):
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            problems.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("request", lambda r: polled.append(r.url) if "progress.json" in r.url else None)
    return problems, polled


def _refill_and_follow(page, daphne_url, admin, dataset, first) -> RefillJob:
    change = f"{daphne_url}/admin/datasets/dataset/{dataset.pk}/change/"
    page.goto(f"{daphne_url}/admin/login/?next=/admin/datasets/dataset/{dataset.pk}/change/")
    # The admin's sign-in is the product's (accounts/signin/admin_sign_in.py).
    page.fill("#id_login", admin.email)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    expect(page).to_have_url(change)
    expect(page.locator("#dataset-job")).to_have_attribute("data-status", "succeeded")

    page.click("#dataset-refill")
    expect(page).to_have_url(change)
    job = RefillJob.objects.filter(dataset=dataset).order_by("-id").first()
    assert job.pk != first.pk
    panel = page.locator("#dataset-job")
    expect(panel).to_have_attribute("data-job", str(job.pk))
    expect(page.locator("#dataset-cancel")).to_be_visible()
    # From here on the page is never loaded again: this mark would be gone.
    page.evaluate("window.notReloaded = true")
    bar = "#dataset-job progress"
    page.wait_for_function(
        f"() => {{ const v = document.querySelector('{bar}').value; return v > 0 && v < 1; }}",
        timeout=WAIT * 1000,
    )
    expect(panel).to_have_attribute("data-status", "succeeded", timeout=WAIT * 1000)
    assert page.eval_on_selector(bar, "el => el.value") == 1
    expect(page.locator("#dataset-job .dataset-job-percent")).to_have_text("100 %")
    expect(page.locator('#dataset-job [data-count="added"]')).to_have_text("8")
    expect(page.locator("#dataset-job .dataset-job-status")).to_have_text("succeeded")
    expect(page.locator("#dataset-cancel")).to_be_hidden()  # nothing left to cancel
    assert page.evaluate("window.notReloaded") is True
    job.refresh_from_db()
    assert job.status == "succeeded"
    return job


def test_refill_now_and_the_bar_moves_to_complete_without_a_reload(
    page, daphne_url, make_user, owner, dataset, upload, celery_worker
):
    admin = make_user("admin@example.com", is_staff=True)
    first = _two_versions_ready(dataset, owner, upload, celery_worker)
    problems, polled = _watch(page)
    _refill_and_follow(page, daphne_url, admin, dataset, first)
    assert polled == []  # pushed through the socket, not polled
    assert problems == []  # no CSP violation, no script error


def test_without_a_socket_the_page_polls_and_still_reaches_complete(
    page, daphne_url, make_user, owner, dataset, upload, celery_worker
):
    admin = make_user("admin@example.com", is_staff=True)
    first = _two_versions_ready(dataset, owner, upload, celery_worker)
    problems, polled = _watch(page)
    # Every progress socket drops at once, as behind a proxy that does not pass websockets.
    page.route_web_socket("**/ws/admin/jobs/**", lambda ws: ws.close(code=1011))
    _refill_and_follow(page, daphne_url, admin, dataset, first)
    assert polled  # the JSON told the page
    expect(page.locator("#dataset-job .dataset-job-live")).to_have_text("")
    assert problems == []
