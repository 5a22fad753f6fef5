# ruff: noqa: F811 -- the fixtures imported from data_fixtures are parameters here
"""Delete my account: the email typed out and a fresh re-authentication, then everything the
person owns goes, and the audit log keeps a record without content."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from urllib.parse import urlencode

from allauth.account.models import EmailAddress
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, User
from accounts.privacy.export import data_export_build, data_export_request, exports_dir
from chat.models import Conversation, Message
from chat.services import conversation_create, message_create_turn
from datasets.models import Dataset
from gateway import keys
from gateway.models import ApiKey
from tests.accounts.data_fixtures import data_dir, signed_in  # noqa: F401
from tests.conftest import PASSWORD

DELETE = reverse("settings:account_delete")
REAUTH = reverse("account_reauthenticate")


def reauthenticate(client, next_url: str = DELETE):
    """Pass allauth's password re-authentication; it replays the request it interrupted."""
    return client.post(f"{REAUTH}?{urlencode({'next': next_url})}", {"password": PASSWORD})


def _upload_dataset(user, name: str):
    from datasets.services import dataset_create, dataset_files_dir, source_add
    from datasets.sources import upload_store

    dataset = dataset_create(user=user, name=name)
    files_dir = dataset_files_dir(dataset=dataset)
    stored = upload_store(files_dir=files_dir, name="notes.txt", chunks=[b"private notes"])
    source_add(
        dataset=dataset,
        user=user,
        kind="upload",
        config={"files": [{"stored": stored, "name": "notes.txt"}]},
    )
    return dataset, files_dir


def test_it_asks_for_a_fresh_password_then_deletes_everything_of_the_person(
    owner, member, data_dir, django_capture_on_commit_callbacks
):
    conversation = conversation_create(user=owner, title="Health questions")
    message_create_turn(conversation=conversation, parent=None, content="A private question")
    dataset, files_dir = _upload_dataset(owner, "Diary")
    keys.apikey_create(user=owner, name="laptop")
    export = data_export_request(user=owner)
    data_export_build(export_id=export.pk)
    export.refresh_from_db()
    archive = exports_dir() / export.file_name
    others_conversation = conversation_create(user=member, title="Member's")
    others_dataset, others_files = _upload_dataset(member, "Member's data")
    owner_id, email = owner.pk, owner.email

    client = signed_in(owner)
    response = client.post(DELETE, {"confirm_email": email.upper()})
    assert response.status_code == 302 and response["Location"].startswith(REAUTH)
    assert client.get(response["Location"]).status_code == 200  # allauth's password page
    assert User.objects.filter(pk=owner_id).exists()  # nothing yet

    with django_capture_on_commit_callbacks(execute=True):
        response = reauthenticate(client)
    assert response.status_code == 302 and response["Location"] == reverse("account_login")
    assert not User.objects.filter(pk=owner_id).exists()
    assert not Conversation.objects.filter(owner_id=owner_id).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()
    assert not Dataset.objects.filter(pk=dataset.pk).exists() and not files_dir.exists()
    assert not ApiKey.objects.filter(user_id=owner_id).exists()
    assert not archive.exists()
    # The other person's things are untouched.
    assert Conversation.objects.filter(pk=others_conversation.pk).exists()
    assert Dataset.objects.filter(pk=others_dataset.pk).exists() and others_files.exists()
    # The record stays, without the person or their content.
    event = AuditEvent.objects.get(action="account.delete")
    assert event.actor is None and event.target_id == str(owner_id)
    assert event.detail["email_sha256"] == hashlib.sha256(email.encode()).hexdigest()
    assert event.detail["datasets"] == 1 and event.detail["api_keys"] == 1
    assert event.detail["conversations"] == 1
    logged = json.dumps(list(AuditEvent.objects.values("detail", "target_id")))
    assert email not in logged and "private" not in logged.lower()
    assert AuditEvent.objects.filter(action="dataset.delete", target_id=str(dataset.pk)).exists()
    # Signed out.
    assert client.get(reverse("settings:index")).status_code == 302


def test_a_wrong_email_deletes_nothing(owner):
    client = signed_in(owner)
    reauthenticate(client, next_url=reverse("settings:data"))
    response = client.post(DELETE, {"confirm_email": "someone@example.com"})
    assert response.status_code == 400
    assert "Type your email address exactly" in response.content.decode()
    assert User.objects.filter(pk=owner.pk).exists()


def test_a_wrong_password_deletes_nothing(owner):
    client = signed_in(owner)
    client.post(DELETE, {"confirm_email": owner.email})
    response = client.post(
        f"{REAUTH}?{urlencode({'next': DELETE})}", {"password": "not my password"}
    )
    assert response.status_code == 200  # the form again, with its error
    assert User.objects.filter(pk=owner.pk).exists()


def test_the_last_active_superuser_cannot_delete_themselves(make_user):
    admin = make_user("admin@example.com", is_staff=True)
    inactive = make_user("old-admin@example.com", is_staff=True)
    inactive.is_active = False
    inactive.save()
    client = signed_in(admin)
    reauthenticate(client, next_url=reverse("settings:data"))
    response = client.post(DELETE, {"confirm_email": admin.email})
    assert response.status_code == 400
    assert "last active superuser" in response.content.decode()
    assert User.objects.filter(pk=admin.pk).exists()

    make_user("second-admin@example.com", is_staff=True)
    response = client.post(DELETE, {"confirm_email": admin.email})
    assert response.status_code == 302
    assert not User.objects.filter(pk=admin.pk).exists()


def test_someone_without_a_password_must_have_signed_in_just_now(owner):
    """An SSO-only person: no password, no verified address, so no way to re-authenticate
    here; a sign-in within the last minutes stands in for it."""
    owner.set_unusable_password()
    owner.save()
    EmailAddress.objects.filter(user=owner).update(verified=False)
    client = signed_in(owner)
    # Signed in an hour ago (force_login has just set it to now).
    User.objects.filter(pk=owner.pk).update(last_login=timezone.now() - timedelta(hours=1))
    page = client.get(reverse("settings:data")).content.decode()
    assert "sign out and in again" in page
    response = client.post(DELETE, {"confirm_email": owner.email})
    assert response.status_code == 400
    assert "Sign out and sign in again" in response.content.decode()
    assert User.objects.filter(pk=owner.pk).exists()

    User.objects.filter(pk=owner.pk).update(last_login=timezone.now())
    response = client.post(DELETE, {"confirm_email": owner.email})
    assert response.status_code == 302
    assert not User.objects.filter(pk=owner.pk).exists()


def test_signed_out_visitors_are_sent_to_sign_in(owner):
    from django.test import Client

    response = Client().post(DELETE, {"confirm_email": owner.email})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert Client().get(DELETE).status_code == 405
    assert User.objects.filter(pk=owner.pk).exists()
