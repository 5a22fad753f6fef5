"""Revoked links stay revoked: nothing that brings an object back (an undo) brings back the
capabilities that died with it.

A share link of a conversation dies when the conversation is deleted; restoring the
conversation within the undo window gives back the conversation, not the link. API keys and
dataset grants have no undo: a revoked key or a removed grant is gone for good, which the
last test checks through the front door as well.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from chat import services
from chat.models import ConversationShare
from datasets.models import Level
from datasets.services import grant_revoke, grant_set
from gateway.keys import apikey_create

pytestmark = pytest.mark.django_db


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post(client: Client, path: str):
    return client.post(path, json.dumps({}), content_type="application/json")


def test_a_share_link_of_a_deleted_conversation_stays_dead_after_the_undo(owner):
    conversation = services.conversation_create(user=owner, title="Shared then deleted")
    client = _as(owner)
    url = _post(client, f"/api/conversations/{conversation.pk}/share/").json()["url"]
    path = url.split("testserver", 1)[1]
    assert Client().get(path).status_code == 200

    assert _post(client, f"/api/conversations/{conversation.pk}/delete/").status_code == 200
    assert Client().get(path).status_code == 410  # gone, and says so
    assert _post(client, f"/api/conversations/{conversation.pk}/restore/").status_code == 200

    assert client.get(f"/c/{conversation.pk}/").status_code == 200  # the conversation is back
    assert Client().get(path).status_code == 410  # its link is not
    assert not ConversationShare.objects.filter(
        conversation=conversation, revoked_at__isnull=True
    ).exists()
    # Sharing again makes a new link, which works.
    again = _post(client, f"/api/conversations/{conversation.pk}/share/").json()["url"]
    assert again != url
    assert Client().get(again.split("testserver", 1)[1]).status_code == 200


def test_a_revoked_key_and_a_removed_grant_have_no_way_back(owner, member, dataset):
    key, _secret = apikey_create(user=owner, name="laptop")
    client = _as(owner)
    assert client.post(f"/settings/keys/{key.pk}/revoke").status_code in {200, 302}
    key.refresh_from_db()
    assert key.revoked_at is not None
    # Revoking again (the only other thing the page can do with it) keeps it revoked.
    client.post(f"/settings/keys/{key.pk}/revoke")
    key.refresh_from_db()
    assert key.revoked_at is not None

    grant = grant_set(dataset=dataset, user=owner, level=Level.VIEW, for_user=member)
    grant_revoke(grant=grant, user=owner)
    assert _as(member).get(f"/datasets/{dataset.pk}/").status_code == 404
