"""The prompt library's JSON API and pages through Django's test client: what each answers,
the CSRF check on every POST, markup in a title or text shown as text, and import and
export from the page."""

from __future__ import annotations

import io
import json

import pytest
from django.test import Client

from prompts.models import SavedPrompt
from prompts.services import prompt_create

pytestmark = pytest.mark.django_db

MARKUP = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def _as(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def _post_json(client: Client, path: str, data) -> object:
    return client.post(path, json.dumps(data), content_type="application/json")


def test_the_list_searches_and_sends_each_prompt_parsed(owner, member, shared_prompt):
    answer = _as(member).get("/prompts/api/?q=/rep").json()
    [prompt] = answer["prompts"]
    assert prompt["command"] == "reply" and prompt["source"] == "shared"
    assert prompt["shared_by"] == "owner@example.com" and prompt["editable"] is False
    assert prompt["variables"] == [
        {"name": "customer", "default": None},
        {"name": "language", "default": "English"},
    ]
    assert prompt["parts"][1] == {"var": "customer"}
    assert "groups" not in prompt  # the owner's business
    mine = _as(owner).get("/prompts/api/").json()["prompts"][0]
    assert (
        mine["source"] == "own"
        and mine["editable"]
        and mine["groups"] == [g.pk for g in shared_prompt.groups.all()]
    )
    assert _as(member).get("/prompts/api/?q=" + "x" * 101).status_code == 400


def test_the_api_needs_a_session_and_says_so_in_json(db):
    client = Client()
    assert client.get("/prompts/api/").status_code == 401
    answer = _post_json(client, "/prompts/api/create/", {"title": "t"})
    assert answer.status_code == 401 and answer.json()["code"] == "unauthenticated"


def test_create_update_and_delete_through_the_api(owner, team):
    client = _as(owner)
    answer = _post_json(
        client,
        "/prompts/api/create/",
        {"title": "Fix", "command": "fix", "body": "Fix {{code}}", "groups": [team.pk]},
    )
    assert answer.status_code == 201
    pk = answer.json()["prompt"]["id"]
    # A field left out keeps its value.
    answer = _post_json(client, f"/prompts/api/{pk}/update/", {"title": "Fix it"})
    assert answer.status_code == 200
    assert answer.json()["prompt"]["body"] == "Fix {{code}}"
    assert answer.json()["prompt"]["groups"] == [team.pk]
    assert SavedPrompt.objects.get().title == "Fix it"
    assert client.post(f"/prompts/api/{pk}/delete/").json() == {"deleted": pk}
    assert not SavedPrompt.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "T", "command": "Bad one", "body": "b"}, "command"),
        ({"title": 5, "command": "ok", "body": "b"}, "title"),
        ({"title": "T", "command": "ok", "body": "b", "groups": ["1"]}, "groups"),
        ({"title": "T", "command": "ok", "body": "b", "groups": [True]}, "groups"),
    ],
)
def test_a_bad_field_is_a_400_naming_it_and_stores_nothing(owner, body, field):
    answer = _post_json(_as(owner), "/prompts/api/create/", body)
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid" and field in answer.json()["errors"]
    assert not SavedPrompt.objects.exists()


def test_a_body_that_is_not_a_json_object_is_a_400(owner):
    client = _as(owner)
    answer = client.post("/prompts/api/create/", "[1]", content_type="application/json")
    assert answer.status_code == 400 and answer.json()["code"] == "bad_request"


def test_every_post_of_the_api_and_pages_needs_the_csrf_token(owner, private_prompt):
    client = _as(owner, enforce_csrf_checks=True)
    pk = private_prompt.pk
    posts = [
        ("/prompts/api/create/", {"title": "T", "command": "t", "body": "b"}),
        (f"/prompts/api/{pk}/update/", {"title": "Changed"}),
        (f"/prompts/api/{pk}/delete/", {}),
        ("/prompts/api/preview/", {"body": "{{x}}"}),
    ]
    for path, data in posts:
        assert _post_json(client, path, data).status_code == 403, path
    for path in ("/prompts/new/", f"/prompts/{pk}/edit/", f"/prompts/{pk}/delete/"):
        assert client.post(path, {"title": "T", "command": "t", "body": "b"}).status_code == 403
    assert client.post("/prompts/import/", {"file": io.BytesIO(b"{}")}).status_code == 403
    private_prompt.refresh_from_db()
    assert private_prompt.title == "My diary helper"
    assert SavedPrompt.objects.count() == 1


def test_the_preview_finds_the_variables_and_saves_nothing(owner):
    answer = _post_json(_as(owner), "/prompts/api/preview/", {"body": "Hi {{who|you}} `{{no}}`"})
    assert answer.status_code == 200
    assert answer.json()["variables"] == [{"name": "who", "default": "you"}]
    assert "body" not in answer.json()["errors"]
    assert not SavedPrompt.objects.exists()


def test_the_page_lists_own_shared_and_organisation_prompts_with_markup_as_text(
    owner, member, team
):
    prompt_create(user=owner, title=MARKUP, command="x", body=MARKUP, groups=[team.pk])
    SavedPrompt.objects.create(title="House <b>style</b>", command="style", body="b")
    page = _as(member).get("/prompts/").content.decode()
    assert "Shared with you" in page and "From your organisation" in page
    assert "<script>window.__xss" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=" in page and "House &lt;b&gt;style&lt;/b&gt;" in page
    assert "/prompts/" in _as(owner).get("/").content.decode()  # linked from the chat page


def test_the_form_creates_edits_and_deletes_and_shows_errors_by_their_fields(owner, team):
    client = _as(owner)
    assert client.get("/prompts/new/").status_code == 200
    bad = client.post("/prompts/new/", {"title": "", "command": "x y", "body": "b"})
    assert bad.status_code == 400
    assert (
        'id="title-error"' in bad.content.decode() and 'id="command-error"' in bad.content.decode()
    )
    assert not SavedPrompt.objects.exists()
    done = client.post(
        "/prompts/new/",
        {"title": "Shout", "command": "shout", "body": "LOUD {{x}}", "groups": [str(team.pk)]},
    )
    assert done.status_code == 302
    prompt = SavedPrompt.objects.get()
    assert list(prompt.groups.all()) == [team]
    edit = client.get(f"/prompts/{prompt.pk}/edit/").content.decode()
    assert "LOUD {{x}}" in edit and "checked" in edit
    client.post(
        f"/prompts/{prompt.pk}/edit/", {"title": "Whisper", "command": "shout", "body": "b"}
    )
    prompt.refresh_from_db()
    assert prompt.title == "Whisper" and not prompt.groups.exists()
    assert client.post(f"/prompts/{prompt.pk}/delete/").status_code == 302
    assert not SavedPrompt.objects.exists()


def test_export_downloads_ones_own_and_import_reports_each_entry(owner, member, private_prompt):
    answer = _as(owner).get("/prompts/export.json")
    assert answer["Content-Disposition"] == 'attachment; filename="prompts.json"'
    exported = answer.content
    assert [p["command"] for p in json.loads(exported)["prompts"]] == ["diary"]

    client = _as(member)
    upload = io.BytesIO(exported)
    upload.name = "prompts.json"
    page = client.post("/prompts/import/", {"file": upload}, follow=True)
    assert page.status_code == 200 and "Imported 1 prompt." in page.content.decode()
    assert SavedPrompt.objects.filter(owner=member, command="diary").exists()
    # Again: the command is taken, so it is skipped and the page says so.
    upload = io.BytesIO(exported)
    upload.name = "prompts.json"
    page = client.post("/prompts/import/", {"file": upload}).content.decode()
    assert "Skipped 1 whose command you already have." in page and "kept yours" in page

    broken = io.BytesIO(b'{"version": 1, "prompts": [{"command": "no body"}]}')
    broken.name = "broken.json"
    answer = client.post("/prompts/import/", {"file": broken})
    assert answer.status_code == 400 and "Nothing was imported" in answer.content.decode()
    malformed = io.BytesIO(b"not json")
    malformed.name = "x.json"
    answer = client.post("/prompts/import/", {"file": malformed})
    assert answer.status_code == 400 and "not JSON" in answer.content.decode()
    assert client.post("/prompts/import/", {}).status_code == 400
    assert SavedPrompt.objects.filter(owner=member).count() == 1


def test_an_admin_makes_an_organisation_prompt_for_a_group_and_sees_no_personal_ones(
    make_user, owner, member, team, private_prompt
):
    admin = make_user("root@example.com", is_staff=True)
    admin.is_superuser = True
    admin.save()
    client = _as(admin)
    listing = client.get("/admin/prompts/savedprompt/").content.decode()
    assert "My diary helper" not in listing  # a person's own prompt is theirs
    form = {"title": "House style", "command": "/Style", "body": "Plain {{words|yes}}"}
    answer = client.post("/admin/prompts/savedprompt/add/", {**form, "groups": [team.pk]})
    assert answer.status_code == 302
    prompt = SavedPrompt.objects.get(command="style")
    assert prompt.owner is None and list(prompt.groups.all()) == [team]
    assert [p["command"] for p in _as(member).get("/prompts/api/").json()["prompts"]] == ["style"]
    # The same command again, or a bad one: the form says so and nothing is stored.
    again = client.post("/admin/prompts/savedprompt/add/", {**form, "title": "Other"})
    assert again.status_code == 200 and "already has this command" in again.content.decode()
    bad = client.post("/admin/prompts/savedprompt/add/", {**form, "command": "no spaces"})
    assert bad.status_code == 200 and "lowercase letters" in bad.content.decode()
    assert SavedPrompt.objects.filter(owner__isnull=True).count() == 1
