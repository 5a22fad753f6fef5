"""A legal hold suspends every deletion of the person's data: the purge (test_purge.py), a
conversation they delete (hidden from them, kept), their account's deletion (refused,
neutrally). Placed and released in the admin, both audited; the person sees nothing of it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.legal_hold import legal_hold_active, legal_hold_place, legal_hold_release
from accounts.models import AuditEvent, LegalHold, User
from chat import services
from chat.models import Conversation
from chat.services.conversations import conversation_purge_deleted
from tests.accounts.data_fixtures import signed_in
from tests.accounts.test_delete_account import DELETE, reauthenticate
from tests.retention.conftest import old_conversation, set_defaults

pytestmark = pytest.mark.django_db


def test_a_conversation_deleted_under_a_hold_is_hidden_but_kept(owner, staff):
    conversation = old_conversation(owner, days_idle=0)
    hold = legal_hold_place(user=owner, reason="Case 42", by=staff, ip=None)
    services.conversation_delete(user=owner, id=conversation.pk)
    client = signed_in(owner)
    assert client.get("/api/conversations/").json()["items"] == []
    assert client.get(f"/c/{conversation.pk}/").status_code == 404

    Conversation.objects.filter(pk=conversation.pk).update(
        deleted_at=timezone.now() - timedelta(days=1)
    )
    conversation_purge_deleted()  # the minute's beat
    assert Conversation.objects.filter(pk=conversation.pk).exists()

    legal_hold_release(hold=hold, by=staff, ip=None)
    conversation_purge_deleted()
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


def test_deleting_a_held_account_is_refused_with_a_neutral_message(owner, staff):
    legal_hold_place(user=owner, reason="Case 42", by=staff, ip=None)
    client = signed_in(owner)
    reauthenticate(client, next_url=reverse("settings:data"))
    response = client.post(DELETE, {"confirm_email": owner.email})
    assert response.status_code == 400
    page = response.content.decode()
    assert "cannot be deleted at the moment" in page and "legal" not in page.lower()
    assert User.objects.filter(pk=owner.pk).exists()


def test_a_released_hold_lets_the_account_go(owner, staff):
    hold = legal_hold_place(user=owner, reason="Case 42", by=staff, ip=None)
    legal_hold_release(hold=hold, by=staff, ip=None)
    client = signed_in(owner)
    reauthenticate(client, next_url=reverse("settings:data"))
    assert client.post(DELETE, {"confirm_email": owner.email}).status_code == 302
    assert not User.objects.filter(pk=owner.pk).exists()
    # The hold's history stays in the log, without its reason.
    actions = list(
        AuditEvent.objects.filter(action__startswith="legal_hold.").values_list("action", "detail")
    )
    assert sorted(a for a, _ in actions) == ["legal_hold.place", "legal_hold.release"]
    assert "Case 42" not in str(actions)


def without_csrf_tokens(page: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)


def test_the_person_sees_the_same_data_page_under_a_hold(owner, staff):
    set_defaults(conversations=30)
    before = signed_in(owner).get(reverse("settings:data")).content.decode()
    legal_hold_place(user=owner, reason="Case 42", by=staff, ip=None)
    after = signed_in(owner).get(reverse("settings:data")).content.decode()
    assert without_csrf_tokens(before) == without_csrf_tokens(after)
    assert "kept for 30 days after their last message" in after


def test_admins_place_and_release_holds_in_the_admin(owner, staff, staff_client):
    add = staff_client.post(
        reverse("admin:accounts_legalhold_add"), {"user": owner.pk, "reason": "Matter 7"}
    )
    assert add.status_code == 302, add.content.decode()[:2000]
    hold = LegalHold.objects.get()
    assert (hold.user, hold.placed_by, hold.reason) == (owner, staff, "Matter 7")
    assert legal_hold_active(user_id=owner.pk)
    placed = AuditEvent.objects.get(action="legal_hold.place")
    assert placed.actor == staff and placed.target_id == str(owner.pk)

    staff_client.post(
        reverse("admin:accounts_legalhold_changelist"),
        {"action": "release", "_selected_action": [hold.pk]},
    )
    hold.refresh_from_db()
    assert hold.released_by == staff and not legal_hold_active(user_id=owner.pk)
    assert AuditEvent.objects.filter(action="legal_hold.release", actor=staff).exists()
    # An active hold is never deleted; a released one may be, so its person's account can go.
    assert (
        staff_client.get(reverse("admin:accounts_legalhold_delete", args=[hold.pk])).status_code
        == 200
    )


def test_an_admin_cannot_delete_a_held_account(owner, staff, staff_client):
    legal_hold_place(user=owner, reason="Case 42", by=staff, ip=None)
    url = reverse("admin:accounts_user_delete", args=[owner.pk])
    page = staff_client.get(url).content.decode()
    assert "legal hold" in page.lower()
    staff_client.post(url, {"post": "yes"})
    assert User.objects.filter(pk=owner.pk).exists()
