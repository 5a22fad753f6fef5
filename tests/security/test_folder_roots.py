"""Server folder roots are the operator's: only staff, and the groups an admin names for a
root, may make a dataset read one; hidden files are read only where a root allows them.

Through the dataset page as a person would: the form offers only the roots they may use, a
root they may not use is refused like one that does not exist, and a person taken out of
the group afterwards stops the folder being read at the next refill, with a clear error.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from datasets.models import Document, Level, RefillJob
from datasets.services import grant_set

pytestmark = pytest.mark.django_db

SECRET = "DB_PASSWORD=hunter2-from-the-dotenv"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def roots(tmp_path, settings):
    """Two roots: ``docs`` for the group "writers", ``ops`` with no groups (staff only)."""
    docs = tmp_path / "docs"
    (docs / "handbook").mkdir(parents=True)
    (docs / "handbook" / "welcome.md").write_text("# Welcome\n\nThe handbook says hello.")
    (docs / ".git").mkdir()
    (docs / ".git" / "notes.txt").write_text("hidden history " + SECRET)
    (docs / "handbook" / ".env.json").write_text('{"secret": "' + SECRET + '"}')
    (docs / "handbook" / ".drafts").mkdir()
    (docs / "handbook" / ".drafts" / "draft.txt").write_text("hidden draft " + SECRET)
    ops = tmp_path / "ops"
    ops.mkdir()
    (ops / "runbook.txt").write_text("how to restart the servers")
    settings.AIPORTAL_DATASET_ROOTS = [f"docs={docs}", f"ops={ops}"]
    settings.AIPORTAL_DATASET_ROOT_ACCESS = {"docs": {"groups": ["writers"], "hidden": False}}
    return docs


@pytest.fixture
def writer(owner):
    owner.groups.add(Group.objects.create(name="writers"))
    return owner


def _add(client, dataset, root: str, path: str = ""):
    return client.post(
        f"/datasets/{dataset.pk}/sources/", {"kind": "folder", "root": root, "path": path}
    )


def test_a_person_in_no_group_cannot_add_any_root(roots, owner, dataset):
    client = _client(owner)
    for root in ["docs", "ops", "nowhere"]:
        answer = _add(client, dataset, root, "handbook")
        assert answer.status_code == 302
        assert not dataset.sources.exists()
    shown = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert "is not a server folder root you may use" in shown
    assert 'value="folder"' not in shown and 'name="root"' not in shown


def test_a_refused_root_looks_like_one_that_does_not_exist(roots, owner, dataset):
    client = _client(owner)
    messages = []
    for root in ["ops", "nowhere"]:
        page = client.get(_add(client, dataset, root, "handbook").url).content.decode()
        messages.append(page.split("not a server folder root you may use")[1][:80])
    assert messages[0] == messages[1] and "ops" not in messages[0]


def test_a_member_of_the_roots_group_may_add_it_and_sees_only_it(roots, writer, dataset):
    client = _client(writer)
    page = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert '<option value="docs">docs</option>' in page
    assert '<option value="ops">' not in page
    _add(client, dataset, "docs", "handbook")
    source = dataset.sources.get()
    assert source.added_by == writer
    _add(client, dataset, "ops")
    assert dataset.sources.count() == 1


def test_staff_may_use_every_root(roots, make_user, dataset, owner):
    admin = make_user("staff@example.com", is_staff=True)
    grant_set(dataset=dataset, user=owner, level=Level.EDIT, for_user=admin)
    _add(_client(admin), dataset, "ops")
    assert dataset.sources.get().config == {"root": "ops", "path": ""}


def test_a_person_taken_out_of_the_group_stops_the_folder_being_read(
    roots, writer, dataset, refill_now
):
    _add(_client(writer), dataset, "docs", "handbook")
    first = refill_now(dataset)
    assert first.status == RefillJob.Status.SUCCEEDED
    version = dataset.active_version
    writer.groups.clear()
    (roots / "handbook" / "later.md").write_text("# Later\n\nwritten after the removal")
    job = refill_now(dataset)
    assert job.status == RefillJob.Status.FAILED
    assert "owner@example.com may no longer use the root 'docs'" in job.message
    dataset.refresh_from_db()
    assert dataset.active_version == version  # nothing new was read
    assert not Document.objects.filter(text__contains="written after the removal").exists()
    shown = _client(writer).get(f"/datasets/api/jobs/{job.pk}/").json()
    assert "may no longer use the root" in shown["message"]


def test_hidden_files_and_folders_are_never_read_by_default(roots, writer, dataset, refill_now):
    client = _client(writer)
    for path in [".git", ".git/notes.txt", "handbook/.env.json", "handbook/.drafts"]:
        _add(client, dataset, "docs", path)
    assert not dataset.sources.exists()
    _add(client, dataset, "docs", "")
    (roots / "handbook" / "shortcut").symlink_to(roots / ".git")
    refill_now(dataset)
    keys = set(dataset.active_version.entries.values_list("key", flat=True))
    assert keys == {"folder:handbook/welcome.md"}
    assert not Document.objects.filter(text__contains=SECRET).exists()


def test_a_root_that_allows_hidden_files_reads_them(roots, writer, dataset, refill_now, settings):
    settings.AIPORTAL_DATASET_ROOT_ACCESS = {"docs": {"groups": ["writers"], "hidden": True}}
    _add(_client(writer), dataset, "docs", "handbook")
    refill_now(dataset)
    keys = set(dataset.active_version.entries.values_list("key", flat=True))
    assert keys == {
        "folder:handbook/welcome.md",
        "folder:handbook/.env.json",
        "folder:handbook/.drafts/draft.txt",
    }


def test_the_environment_names_each_roots_groups_and_hidden_option(monkeypatch):
    from aiportal.settings import _dataset_root_access

    monkeypatch.setenv("AIPORTAL_DATASET_ROOT_DOCS_EU_GROUPS", "writers, editors")
    monkeypatch.setenv("AIPORTAL_DATASET_ROOT_DOCS_EU_HIDDEN", "true")
    monkeypatch.setenv("AIPORTAL_DATASET_ROOT_OPEN_GROUPS", "*")
    assert _dataset_root_access(["docs-eu=/srv/docs", "open=/srv/open", "ops=/srv/ops"]) == {
        "docs-eu": {"groups": ["writers", "editors"], "hidden": True},
        "open": {"groups": ["*"], "hidden": False},
        "ops": {"groups": [], "hidden": False},
    }
