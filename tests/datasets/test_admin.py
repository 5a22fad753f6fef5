"""The datasets admin: every page for staff and refused to others, the actions through the
services (refill joins, cancel, rollback), inline grants and sources through the services,
the document browser, and "search as a user" showing exactly that user's view."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from accounts.services import user_create
from datasets.models import Dataset, Grant, Level, RefillJob, Source, Version
from datasets.selectors import chunk_search, dataset_get, dataset_level_for
from datasets.services import grant_set
from datasets.sources import source_config_check
from tests.conftest import PASSWORD
from tests.datasets.test_events import _fresh_layer, _listen, _receive  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(make_user):
    return make_user("admin@example.com", is_staff=True)


@pytest.fixture
def staff_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def filled(dataset, upload, refill_now):
    """A dataset with an active version built from two documents, one of them hostile."""
    upload(
        dataset,
        {
            "guide.txt": "The kettle descaling procedure uses citric acid.\n\nRinse twice.",
            "evil.txt": "<script>alert('x')</script> kettle notes",
        },
    )
    refill_now(dataset)
    return dataset


def _pages(dataset: Dataset) -> list[str]:
    version = dataset.active_version
    entry = version.entries.order_by("key").first()
    job = dataset.refill_jobs.first()
    return [
        reverse("admin:datasets_dataset_changelist"),
        reverse("admin:datasets_dataset_add"),
        reverse("admin:datasets_dataset_change", args=[dataset.pk]),
        reverse("admin:datasets_dataset_search", args=[dataset.pk]),
        reverse("admin:datasets_refilljob_changelist"),
        reverse("admin:datasets_refilljob_change", args=[job.pk]),
        reverse("admin:datasets_refilljob_progress", args=[job.pk]),
        reverse("admin:datasets_version_changelist"),
        reverse("admin:datasets_version_change", args=[version.pk]),
        reverse("admin:datasets_version_documents", args=[version.pk]),
        reverse("admin:datasets_version_document", args=[version.pk, entry.pk]),
    ]


def test_every_page_renders_for_staff(filled, staff_client):
    for url in _pages(filled):
        response = staff_client.get(url)
        assert response.status_code == 200, url


def test_every_page_and_action_is_refused_to_people_who_are_not_staff(filled, member):
    client = Client()
    client.force_login(member)
    job = filled.refill_jobs.first()
    for url in _pages(filled):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
    posts = [
        reverse("admin:datasets_dataset_refill", args=[filled.pk]),
        reverse("admin:datasets_refilljob_cancel", args=[job.pk]),
        reverse("admin:datasets_version_activate", args=[filled.active_version_id]),
    ]
    for url in posts:
        response = client.post(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
    assert RefillJob.objects.filter(dataset=filled).count() == 1


def test_staff_without_the_change_permission_cannot_refill_cancel_or_roll_back(filled):
    viewer = user_create(email="viewer@example.com", password=PASSWORD)
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="datasets", codename__startswith="view_")
    )
    client = Client()
    client.force_login(viewer)
    assert client.get(reverse("admin:datasets_dataset_change", args=[filled.pk])).status_code == 200
    job = RefillJob.objects.create(dataset=filled)
    assert (
        client.post(reverse("admin:datasets_dataset_refill", args=[filled.pk])).status_code == 403
    )
    assert client.post(reverse("admin:datasets_refilljob_cancel", args=[job.pk])).status_code == 403
    version = filled.active_version
    assert (
        client.post(reverse("admin:datasets_version_activate", args=[version.pk])).status_code
        == 403
    )
    job.refresh_from_db()
    assert job.status == RefillJob.Status.QUEUED


def test_the_list_shows_owner_active_version_last_refill_and_documents(filled, staff_client):
    RefillJob.objects.create(dataset=filled, status=RefillJob.Status.QUEUED)
    response = staff_client.get(reverse("admin:datasets_dataset_changelist"))
    row = response.context["cl"].result_list.get(pk=filled.pk)
    admin = response.context["cl"].model_admin
    assert admin.active_version_number(row) == str(filled.active_version.number)
    assert admin.last_refill(row) == "queued"
    assert admin.document_count(row) == 2
    content = response.content.decode()
    assert "owner@example.com" in content and "Team handbook" in content
    found = staff_client.get(reverse("admin:datasets_dataset_changelist"), {"q": "handbook"})
    assert list(found.context["cl"].result_list) == [filled]
    none = staff_client.get(reverse("admin:datasets_dataset_changelist"), {"q": "nothing-like"})
    assert list(none.context["cl"].result_list) == []


# --- Refill now and cancel ------------------------------------------------------------------


def test_refill_now_from_the_list_starts_one_job_and_a_second_joins_it(dataset, staff_client):
    url = reverse("admin:datasets_dataset_changelist")
    data = {"action": "refill_now", "_selected_action": [dataset.pk]}
    first = staff_client.post(url, data, follow=True)
    assert "Refills started: 1; already running (joined): 0." in first.content.decode()
    second = staff_client.post(url, data, follow=True)
    assert "Refills started: 0; already running (joined): 1." in second.content.decode()
    jobs = RefillJob.objects.filter(dataset=dataset)
    assert jobs.count() == 1
    assert jobs.get().triggered_by.email == "admin@example.com"


def test_the_refill_button_joins_an_active_job_and_the_page_shows_its_progress(
    dataset, staff_client
):
    url = reverse("admin:datasets_dataset_refill", args=[dataset.pk])
    response = staff_client.post(url)
    assert response["Location"] == reverse("admin:datasets_dataset_change", args=[dataset.pk])
    job = RefillJob.objects.get(dataset=dataset)
    again = staff_client.post(url, follow=True)
    assert RefillJob.objects.filter(dataset=dataset).count() == 1
    content = again.content.decode()
    assert "was already queued: showing it" in content
    assert f'data-job="{job.pk}"' in content
    assert f'data-socket="/ws/admin/jobs/{job.pk}/"' in content
    assert '<progress class="dataset-job-bar" max="1" value="0.0000">' in content
    assert 'id="dataset-cancel"' in content


def test_cancel_stops_a_queued_job_through_the_service(dataset, staff_client):
    staff_client.post(reverse("admin:datasets_dataset_refill", args=[dataset.pk]))
    job = RefillJob.objects.get(dataset=dataset)
    response = staff_client.post(
        reverse("admin:datasets_refilljob_cancel", args=[job.pk]), follow=True
    )
    job.refresh_from_db()
    assert job.status == RefillJob.Status.CANCELLED
    assert job.message == "Cancelled by admin@example.com."
    assert f"Refill {job.pk} is cancelled." in response.content.decode()
    again = staff_client.post(
        reverse("admin:datasets_refilljob_cancel", args=[job.pk]), follow=True
    )
    assert "This refill is cancelled: nothing to cancel." in again.content.decode()


def test_the_job_page_follows_a_running_job_and_offers_cancel(dataset, staff_client):
    job = RefillJob.objects.create(dataset=dataset)
    content = staff_client.get(
        reverse("admin:datasets_refilljob_change", args=[job.pk])
    ).content.decode()
    assert f'data-socket="/ws/admin/jobs/{job.pk}/"' in content
    assert 'data-status="queued"' in content
    assert 'id="dataset-cancel"' in content
    assert '<script type="module" src="/static/datasets/job.' in content


def test_the_progress_json_is_the_job_as_stored(filled, staff_client):
    job = filled.refill_jobs.first()
    data = staff_client.get(reverse("admin:datasets_refilljob_progress", args=[job.pk])).json()
    assert data["status"] == "succeeded"
    assert data["progress"] == 1.0
    assert data["counts"]["added"] == 2
    assert data["errors"] == []


def test_the_job_page_lists_each_document_error_escaped(dataset, upload, refill_now, staff_client):
    upload(dataset, {"good.txt": "fine words here", "empty.txt": ""})
    job = refill_now(dataset)
    assert job.failed == 1
    RefillJob.objects.filter(pk=job.pk).update(
        errors=[*job.errors, {"key": "<b>bold</b>", "message": "<i>no</i>"}]
    )
    content = staff_client.get(
        reverse("admin:datasets_refilljob_change", args=[job.pk])
    ).content.decode()
    assert "<code>upload:empty.txt</code>: " + html.escape(job.errors[0]["message"]) in content
    assert "<code>&lt;b&gt;bold&lt;/b&gt;</code>: &lt;i&gt;no&lt;/i&gt;" in content
    assert "<b>bold</b>" not in content


# --- Versions and rollback -------------------------------------------------------------------


def test_activate_rolls_back_to_a_retired_version_through_the_service(
    filled, upload, refill_now, staff_client
):
    first = filled.active_version
    upload(filled, {"other.txt": "entirely new content"})
    refill_now(filled)
    second = filled.active_version
    first.refresh_from_db()
    assert first.status == Version.Status.RETIRED
    listed = staff_client.get(
        reverse("admin:datasets_version_changelist"), {"dataset__id__exact": filled.pk}
    )
    assert set(listed.context["cl"].result_list) == {first, second}
    page = staff_client.get(reverse("admin:datasets_version_change", args=[first.pk]))
    assert 'id="version-activate"' in page.content.decode()
    response = staff_client.post(
        reverse("admin:datasets_version_activate", args=[first.pk]), follow=True
    )
    assert f"Version {first.number} of “Team handbook” is active again." in (
        response.content.decode()
    )
    filled.refresh_from_db()
    assert filled.active_version_id == first.pk
    second.refresh_from_db()
    assert second.status == Version.Status.RETIRED


def test_activating_a_version_that_is_not_retired_says_why(filled, staff_client):
    active = filled.active_version
    page = staff_client.get(reverse("admin:datasets_version_change", args=[active.pk]))
    assert 'id="version-activate"' not in page.content.decode()
    response = staff_client.post(
        reverse("admin:datasets_version_changelist"),
        {"action": "activate", "_selected_action": [active.pk]},
        follow=True,
    )
    assert (
        f"Version {active.number} is active: only a retired one can be activated."
        in response.content.decode()
    )
    filled.refresh_from_db()
    assert filled.active_version_id == active.pk


# --- The document browser --------------------------------------------------------------------


def test_the_document_browser_lists_documents_and_shows_text_and_chunks_escaped(
    filled, staff_client
):
    version = filled.active_version
    listing = staff_client.get(reverse("admin:datasets_version_documents", args=[version.pk]))
    content = listing.content.decode()
    assert "upload:evil.txt" in content and "upload:guide.txt" in content
    assert "text/plain" in content
    entry = version.entries.get(key="upload:evil.txt")
    page = staff_client.get(
        reverse("admin:datasets_version_document", args=[version.pk, entry.pk])
    ).content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; kettle notes" in page
    assert "<script>alert" not in page
    assert "Chunk 0" in page
    assert page.count('class="dataset-text dataset-chunk"') == entry.document.chunks.count()
    # Each chunk's context (here its file name as title), escaped like its text.
    assert page.count('<p class="dataset-chunk-context">evil.txt</p>') == (
        entry.document.chunks.count()
    )


def test_a_document_of_another_version_is_not_found_under_this_one(
    filled, upload, refill_now, staff_client
):
    old = filled.active_version
    entry = old.entries.first()
    upload(filled, {"other.txt": "entirely new content"})
    refill_now(filled)
    url = reverse("admin:datasets_version_document", args=[filled.active_version_id, entry.pk])
    assert staff_client.get(url).status_code == 404


# --- Inline grants and sources ---------------------------------------------------------------


def _change_data(dataset: Dataset, *, grants=(), sources=()) -> dict:
    """The change form as the browser posts it: the dataset's fields and both inlines."""
    data = {
        "name": dataset.name,
        "description": dataset.description,
        "owner": dataset.owner_id,
        "allowed_regions": dataset.allowed_regions,
        "schedule_minutes": dataset.schedule_minutes,
        "keep_versions": "" if dataset.keep_versions is None else dataset.keep_versions,
    }
    for prefix, rows, initial in (
        ("grants", grants, dataset.grants.count()),
        ("sources", sources, dataset.sources.count()),
    ):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": len(rows),
                f"{prefix}-INITIAL_FORMS": initial,
                f"{prefix}-MIN_NUM_FORMS": 0,
                f"{prefix}-MAX_NUM_FORMS": 1000,
            }
        )
        for i, row in enumerate(rows):
            data[f"{prefix}-{i}-dataset"] = dataset.pk
            for key, value in row.items():
                data[f"{prefix}-{i}-{key}"] = value
    return data


def _grant_row(*, user=None, group=None, level=Level.QUERY, id="", date="", time="") -> dict:
    return {
        "id": id,
        "user": user.pk if user else "",
        "group": group.pk if group else "",
        "level": int(level),
        "expires_at_0": date,
        "expires_at_1": time,
    }


def test_an_inline_grant_publishes_and_takes_effect_at_once(
    filled, member, staff_client, django_capture_on_commit_callbacks
):
    channel = _listen(f"datasets.user.{member.pk}")
    url = reverse("admin:datasets_dataset_change", args=[filled.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url, _change_data(filled, grants=[_grant_row(user=member)]))
    assert response.status_code == 302, response.context["errors"]
    assert _receive(channel) == {"type": "datasets.changed"}
    # The very next selector call sees it: nothing cached in between.
    assert dataset_level_for(user=member, dataset=filled) == Level.QUERY
    assert chunk_search(user=member, query="kettle", dataset_ids=[filled.pk])
    grant = Grant.objects.get(dataset=filled, user=member)
    assert grant.created_by.email == "admin@example.com"

    # Lowered to view in the same inline: the search closes at once, and the member is told.
    row = _grant_row(user=member, level=Level.VIEW, id=grant.pk)
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(url, _change_data(filled, grants=[row]))
    assert _receive(channel) == {"type": "datasets.changed"}
    assert chunk_search(user=member, query="kettle", dataset_ids=[filled.pk]) == []

    # Deleted: the dataset is gone for them.
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(url, _change_data(filled, grants=[{**row, "DELETE": "on"}]))
    assert _receive(channel) == {"type": "datasets.changed"}
    with pytest.raises(Dataset.DoesNotExist):
        dataset_get(user=member, id=filled.pk)


def test_a_grant_moved_to_someone_else_leaves_the_first_person(
    filled, member, outsider, staff_client
):
    grant = grant_set(dataset=filled, user=filled.owner, for_user=member, level=Level.QUERY)
    url = reverse("admin:datasets_dataset_change", args=[filled.pk])
    row = _grant_row(user=outsider, id=grant.pk)
    assert staff_client.post(url, _change_data(filled, grants=[row])).status_code == 302
    assert dataset_level_for(user=member, dataset=filled) is None
    assert dataset_level_for(user=outsider, dataset=filled) == Level.QUERY
    assert Grant.objects.filter(dataset=filled).count() == 1


def test_the_grants_inline_says_which_grants_are_expired(filled, member, outsider, staff_client):
    from datetime import timedelta

    from django.utils import timezone

    grant_set(dataset=filled, user=filled.owner, for_user=member, level=Level.QUERY)
    soon = grant_set(
        dataset=filled,
        user=filled.owner,
        for_user=outsider,
        level=Level.QUERY,
        expires_at=timezone.now() + timedelta(days=1),
    )
    Grant.objects.filter(pk=soon.pk).update(expires_at=timezone.now() - timedelta(days=1))
    response = staff_client.get(reverse("admin:datasets_dataset_change", args=[filled.pk]))
    inline = response.context["inline_admin_formsets"][0]
    states = {
        form.form.instance.user.email: form.model_admin.state(form.form.instance)
        for form in inline
        if form.form.instance.pk
    }
    assert states == {"member@example.com": "in force", "outsider@example.com": "expired"}


def test_a_group_grant_with_an_expiry_is_saved(filled, member, staff_client):
    team = Group.objects.create(name="team")
    member.groups.add(team)
    url = reverse("admin:datasets_dataset_change", args=[filled.pk])
    row = _grant_row(group=team, level=Level.EDIT, date="2999-01-01", time="00:00:00")
    assert staff_client.post(url, _change_data(filled, grants=[row])).status_code == 302
    grant = Grant.objects.get(dataset=filled, group=team)
    assert grant.expires_at.year == 2999
    assert dataset_level_for(user=member, dataset=filled) == Level.EDIT


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (lambda m, o, g: _grant_row(), "Grant to one person or one group: choose exactly one."),
        (
            lambda m, o, g: _grant_row(user=m, group=g),
            "Grant to one person or one group: choose exactly one.",
        ),
        (lambda m, o, g: _grant_row(user=o), "The owner already manages the dataset."),
        (
            lambda m, o, g: _grant_row(user=m, date="2000-01-01", time="00:00:00"),
            "The expiry is in the past: the grant would never apply.",
        ),
    ],
)
def test_a_grant_the_services_would_refuse_is_a_form_error_and_nothing_is_saved(
    filled, member, staff_client, row, message
):
    team = Group.objects.create(name="team")
    url = reverse("admin:datasets_dataset_change", args=[filled.pk])
    data = _change_data(filled, grants=[row(member, filled.owner, team)])
    response = staff_client.post(url, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Grant.objects.filter(dataset=filled).exists()


def test_an_inline_source_is_checked_and_normalised_by_the_sources_package(dataset, staff_client):
    url = reverse("admin:datasets_dataset_change", args=[dataset.pk])
    row = {"id": "", "kind": "urls", "urls": "https://example.org/a\r\nhttps://example.org/b"}
    data = _change_data(dataset, sources=[row])
    assert staff_client.post(url, data).status_code == 302
    source = Source.objects.get(dataset=dataset)
    assert source.config == source_config_check(
        kind="urls", config={"urls": ["https://example.org/a", "https://example.org/b"]}
    )
    # Changed in place, then replaced by another kind, then removed: each through a service.
    row = {"id": source.pk, "kind": "urls", "urls": "https://example.org/c"}
    assert staff_client.post(url, _change_data(dataset, sources=[row])).status_code == 302
    source.refresh_from_db()
    assert source.config["urls"] == [
        source_config_check(kind="urls", config={"urls": ["https://example.org/c"]})["urls"][0]
    ]
    # The URLs field still holds the old kind's value: only the chosen kind's field counts.
    row = {
        "id": source.pk,
        "kind": "sitemap",
        "sitemap_url": "https://example.org/s.xml",
        "urls": "https://example.org/c",
    }
    assert staff_client.post(url, _change_data(dataset, sources=[row])).status_code == 302
    assert list(dataset.sources.values_list("kind", "config")) == [
        (
            "sitemap",
            source_config_check(kind="sitemap", config={"url": "https://example.org/s.xml"}),
        )
    ]
    only = dataset.sources.get()
    row = {"id": only.pk, "kind": "sitemap", "sitemap_url": "https://example.org/s.xml"}
    assert (
        staff_client.post(url, _change_data(dataset, sources=[{**row, "DELETE": "on"}])).status_code
        == 302
    )
    assert not dataset.sources.exists()


def test_a_source_is_edited_as_fields_of_its_kind_not_as_json(dataset, staff_client):
    Source.objects.create(
        dataset=dataset,
        kind="urls",
        config=source_config_check(kind="urls", config={"urls": ["https://example.org/a"]}),
    )
    url = reverse("admin:datasets_dataset_change", args=[dataset.pk])
    html = staff_client.get(url).content.decode()
    assert 'name="sources-0-config"' not in html
    assert 'name="sources-0-urls"' in html and "https://example.org/a</textarea>" in html
    for name in ("sitemap_url", "folder_root", "folder_path"):
        assert f'name="sources-0-{name}"' in html
    # The script that shows only the chosen kind's fields (a hashed name outside DEBUG).
    assert re.search(r'<script src="[^"]*datasets/source_form\.(\w+\.)?js"', html)


@pytest.mark.parametrize(
    ("kind", "config", "fields", "at"),
    [
        ("urls", {"urls": ["ftp://example.org/a"]}, {"urls": "ftp://example.org/a"}, "urls"),
        ("urls", {"urls": ["http://127.0.0.1/"]}, {"urls": "http://127.0.0.1/"}, "urls"),
        ("urls", {"urls": []}, {"urls": ""}, "urls"),
        (
            "folder",
            {"root": "nowhere", "path": "a"},
            {"folder_root": "nowhere", "folder_path": "a"},
            "folder_path",
        ),
        ("sitemap", {"url": ""}, {"sitemap_url": ""}, "sitemap_url"),
    ],
)
def test_a_source_config_error_is_shown_on_the_field_and_nothing_is_saved(
    dataset, staff_client, kind, config, fields, at
):
    with pytest.raises(ValueError) as refused:
        source_config_check(kind=kind, config=config)
    url = reverse("admin:datasets_dataset_change", args=[dataset.pk])
    row = {"id": "", "kind": kind, **fields}
    response = staff_client.post(url, _change_data(dataset, sources=[row]))
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][1].formset.forms[0].errors
    assert errors[at] == [str(refused.value)]
    assert html.escape(str(refused.value)) in response.content.decode()
    assert not dataset.sources.exists()


def test_an_upload_source_cannot_be_added_in_the_admin(dataset, staff_client):
    url = reverse("admin:datasets_dataset_change", args=[dataset.pk])
    row = {"id": "", "kind": "upload"}
    response = staff_client.post(url, _change_data(dataset, sources=[row]))
    assert response.status_code == 200
    assert "Upload files on the dataset&#x27;s own page." in response.content.decode()
    assert not dataset.sources.exists()


def test_a_dataset_added_in_the_admin_gets_a_slug_its_owner_and_its_grants(
    owner, member, staff_client
):
    data = {
        "name": "Field notes",
        "description": "",
        "owner": owner.pk,
        "allowed_regions": "",
        "schedule_minutes": 0,
        "keep_versions": "",
        "grants-TOTAL_FORMS": 1,
        "grants-INITIAL_FORMS": 0,
        **{f"grants-0-{k}": v for k, v in _grant_row(user=owner).items()},
        "sources-TOTAL_FORMS": 0,
        "sources-INITIAL_FORMS": 0,
    }
    add = reverse("admin:datasets_dataset_add")
    refused = staff_client.post(add, data)
    assert "The owner already manages the dataset." in refused.content.decode()
    assert not Dataset.objects.filter(name="Field notes").exists()
    data.update({f"grants-0-{k}": v for k, v in _grant_row(user=member).items()})
    response = staff_client.post(add, data)
    assert response.status_code == 302
    dataset = Dataset.objects.get(name="Field notes")
    assert dataset.slug == "field-notes"
    assert dataset_level_for(user=owner, dataset=dataset) == Level.MANAGE
    assert dataset_level_for(user=member, dataset=dataset) == Level.QUERY


# --- Search as a user ------------------------------------------------------------------------


def _search(client: Client, dataset: Dataset, who, query: str = "kettle descaling"):
    return client.get(
        reverse("admin:datasets_dataset_search", args=[dataset.pk]),
        {"user": who.email, "query": query},
    )


def test_search_as_shows_exactly_what_each_person_would_get(
    filled, owner, member, outsider, make_user, staff_client
):
    viewer = make_user("viewer@example.com")
    grant_set(dataset=filled, user=owner, for_user=member, level=Level.QUERY)
    grant_set(dataset=filled, user=owner, for_user=viewer, level=Level.VIEW)
    for who in (owner, member):
        response = _search(staff_client, filled, who)
        expected = chunk_search(
            user=who, query="kettle descaling", dataset_ids=[filled.pk], limit=20
        )
        assert expected, "the corpus must match for this test to mean anything"
        assert response.context["hits"] == expected
        content = response.content.decode()
        assert f"{who.email} may query this dataset" in content
        assert "citric acid" in content
    for who, level in ((viewer, " (their level: view)"), (outsider, "")):
        response = _search(staff_client, filled, who)
        assert response.context["hits"] == []
        assert (
            f"{who.email} has no query grant on “Team handbook”{level}: the search returns "
            "nothing for them." in response.content.decode()
        )
        assert "citric acid" not in response.content.decode()


def test_search_as_shows_hostile_text_escaped(filled, owner, staff_client):
    content = _search(staff_client, filled, owner, "kettle notes").content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in content
    assert "<script>alert" not in content


def test_search_as_an_unknown_person_says_so(filled, staff_client):
    response = staff_client.get(
        reverse("admin:datasets_dataset_search", args=[filled.pk]),
        {"user": "nobody@example.com", "query": "kettle"},
    )
    assert "No user has the email address or user name “nobody@example.com”." in (
        response.content.decode()
    )
    assert "hits" not in response.context


def test_the_dataset_page_links_its_versions_and_refill_history_filtered(
    filled, make_user, owner, staff_client
):
    from datasets.services import dataset_create

    other = dataset_create(user=owner, name="Other")
    RefillJob.objects.create(dataset=other)
    page = staff_client.get(reverse("admin:datasets_dataset_change", args=[filled.pk]))
    content = page.content.decode()
    history = f"{reverse('admin:datasets_refilljob_changelist')}?dataset__id__exact={filled.pk}"
    versions = f"{reverse('admin:datasets_version_changelist')}?dataset__id__exact={filled.pk}"
    assert html.escape(history) in content and html.escape(versions) in content
    jobs = staff_client.get(history)
    assert list(jobs.context["cl"].result_list) == list(filled.refill_jobs.all())
    assert staff_client.get(versions).context["cl"].result_list.get() == filled.active_version
