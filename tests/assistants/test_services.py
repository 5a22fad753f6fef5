"""Assistants' services and selectors: every field validated before anything is stored, the
levels (use < edit < manage) from ownership and grants, read live on every call."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied

from accounts.models import AuditEvent
from assistants.models import Assistant, AssistantGrant, Level
from assistants.selectors import (
    AssistantUnavailable,
    assistant_get_usable,
    assistant_level_for,
    assistant_list_usable,
    assistant_turn_settings,
)
from assistants.services import (
    assistant_create,
    assistant_delete,
    assistant_grant_add,
    assistant_grant_add_for,
    assistant_grant_remove,
    assistant_update,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "   ", "needs a name"),
        ("temperature", 2.5, "temperature"),
        ("temperature", -0.1, "temperature"),
        ("top_p", 0.0, "Top p"),
        ("top_p", 1.5, "Top p"),
        ("max_tokens", 10**9, "Max tokens"),
        ("starter_prompts", ["a", "b", "c", "d", "e"], "At most 4"),
        ("starter_prompts", ["x" * 501], "at most 500"),
        ("starter_prompts", "not a list", "list of texts"),
        ("datasets", ["one"], "dataset ids"),
        ("icon", "abc", "emoji"),
        ("icon", "<b>", "emoji"),
        ("colour", "mauve", "not a valid choice"),
        ("model", "bad model name", "model name"),
        ("system_prompt", "x" * 40_000, "at most 32000 characters"),
    ],
)
def test_a_bad_value_is_refused_and_nothing_is_stored(owner, field, value, message):
    with pytest.raises(ValueError, match=message):
        assistant_create(user=owner, **{"name": "Helper", field: value})
    assert not Assistant.objects.exists()


def test_an_update_with_a_bad_value_changes_nothing(owner, helper):
    with pytest.raises(ValueError, match="temperature"):
        assistant_update(assistant=helper, user=owner, name="Renamed", temperature=9)
    helper.refresh_from_db()
    assert helper.name == "Release notes writer"
    assert helper.temperature == 0.3


def test_starter_prompts_are_trimmed_and_blank_ones_dropped(owner):
    made = assistant_create(user=owner, name="Helper", starter_prompts=["  Hi  ", "", "   "])
    assert made.starter_prompts == ["Hi"]


def test_only_staff_make_organisation_assistants(owner, make_user):
    with pytest.raises(ValueError, match="staff"):
        assistant_create(user=owner, name="Org", organisation=True)
    admin = make_user("admin@example.com", is_staff=True)
    org = assistant_create(user=admin, name="Org", organisation=True)
    assert org.owner is None
    # Staff see nothing that no grant gives them: an organisation assistant starts unshared.
    assert assistant_level_for(user=admin, assistant=org) is None


def test_the_owner_manages_and_an_outsider_has_nothing(owner, outsider, helper):
    assert assistant_level_for(user=owner, assistant=helper) == Level.MANAGE
    assert assistant_level_for(user=outsider, assistant=helper) is None
    assert list(assistant_list_usable(user=outsider)) == []
    with pytest.raises(Assistant.DoesNotExist):
        assistant_get_usable(user=outsider, id=helper.pk)


def test_a_user_grant_opens_it_at_its_level(owner, member, helper):
    assistant_grant_add(assistant=helper, user=owner, for_user=member, level=Level.USE)
    assert list(assistant_list_usable(user=member)) == [helper]
    with pytest.raises(PermissionDenied):
        assistant_update(assistant=helper, user=member, name="Mine now")
    assistant_grant_add(assistant=helper, user=owner, for_user=member, level=Level.EDIT)
    assert AssistantGrant.objects.filter(assistant=helper).count() == 1  # changed in place
    assistant_update(assistant=helper, user=member, name="Better name")
    with pytest.raises(PermissionDenied):
        assistant_delete(assistant=helper, user=member)
    with pytest.raises(PermissionDenied):
        assistant_grant_add(assistant=helper, user=member, for_user=member, level=Level.MANAGE)


def test_a_manager_shares_and_deletes(owner, member, outsider, helper):
    assistant_grant_add(assistant=helper, user=owner, for_user=member, level=Level.MANAGE)
    assistant_grant_add(assistant=helper, user=member, for_user=outsider, level=Level.USE)
    assert assistant_level_for(user=outsider, assistant=helper) == Level.USE
    assistant_delete(assistant=helper, user=member)
    assert not Assistant.objects.filter(pk=helper.pk).exists()


def test_a_group_grant_follows_membership_live(owner, member, helper):
    team = Group.objects.create(name="writers")
    assistant_grant_add(assistant=helper, user=owner, for_group=team, level=Level.USE)
    assert assistant_level_for(user=member, assistant=helper) is None
    member.groups.add(team)
    assert assistant_level_for(user=member, assistant=helper) == Level.USE
    member.groups.remove(team)
    assert list(assistant_list_usable(user=member)) == []


def test_the_highest_of_a_users_and_their_groups_grants_applies(owner, member, helper):
    team = Group.objects.create(name="writers")
    member.groups.add(team)
    assistant_grant_add(assistant=helper, user=owner, for_user=member, level=Level.USE)
    assistant_grant_add(assistant=helper, user=owner, for_group=team, level=Level.EDIT)
    assert assistant_level_for(user=member, assistant=helper) == Level.EDIT


def test_a_removed_grant_takes_effect_on_the_very_next_read(owner, member, helper):
    grant = assistant_grant_add(assistant=helper, user=owner, for_user=member, level=Level.USE)
    assert assistant_turn_settings(user=member, id=helper.pk).id == helper.pk
    assistant_grant_remove(grant=grant, user=owner)
    with pytest.raises(AssistantUnavailable):
        assistant_turn_settings(user=member, id=helper.pk)


def test_grant_changes_are_audited(owner, member, helper):
    grant = assistant_grant_add(assistant=helper, user=owner, for_user=member, level=Level.EDIT)
    assistant_grant_remove(grant=grant, user=owner)
    actions = list(
        AuditEvent.objects.filter(target_type="assistant").values_list("action", flat=True)
    )
    assert "assistant.grant.set" in actions and "assistant.grant.revoke" in actions


def test_sharing_by_address_says_nothing_about_who_has_an_account(owner, member, helper):
    assert (
        assistant_grant_add_for(
            assistant=helper, user=owner, who="nobody@example.com", level=Level.USE
        )
        is None
    )
    assert (
        assistant_grant_add_for(assistant=helper, user=owner, who="no-such-group", level=Level.USE)
        is None
    )
    grant = assistant_grant_add_for(
        assistant=helper, user=owner, who="MEMBER@example.com", level=Level.USE
    )
    assert grant is not None and grant.user == member
    with pytest.raises(ValueError, match="not an email address"):
        assistant_grant_add_for(assistant=helper, user=owner, who="a@b@c", level=Level.USE)


def test_the_owner_cannot_be_granted_their_own_assistant(owner, helper):
    with pytest.raises(ValueError, match="owner"):
        assistant_grant_add(assistant=helper, user=owner, for_user=owner, level=Level.USE)


def test_an_inactive_user_has_no_level(owner, member, helper):
    assistant_grant_add(assistant=helper, user=owner, for_user=member, level=Level.USE)
    member.is_active = False
    member.save()
    assert assistant_level_for(user=member, assistant=helper) is None
