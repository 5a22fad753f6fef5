"""A SCIM group's members get what the group was granted the moment the provider adds them,
and lose it the moment it removes them: grants are read through live group membership."""

from __future__ import annotations

import pytest

from datasets.models import Dataset, Grant, Level
from datasets.selectors import dataset_list_visible
from tests.scim.fixtures import AVAILABLE_APPS, scim_client, scim_token

pytestmark = pytest.mark.django_db(transaction=True, available_apps=[*AVAILABLE_APPS, "datasets"])

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_a_dataset_granted_to_a_scim_group_follows_its_members(daphne_url, owner, member):
    with scim_client(daphne_url, scim_token()) as scim:
        group = scim.post(
            "/Groups",
            json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                  "displayName": "Researchers"},
        ).json()  # fmt: skip
        dataset = Dataset.objects.create(owner=owner, name="Lab notes")
        Grant.objects.create(dataset=dataset, group_id=group["id"], level=Level.QUERY)
        assert not dataset_list_visible(user=member).filter(pk=dataset.pk).exists()

        members = {"op": "add", "path": "members", "value": [{"value": str(member.pk)}]}
        scim.patch(f"/Groups/{group['id']}", json={"schemas": [PATCH], "Operations": [members]})
        assert dataset_list_visible(user=member).filter(pk=dataset.pk).exists()

        gone = {"op": "remove", "path": f'members[value eq "{member.pk}"]'}
        scim.patch(f"/Groups/{group['id']}", json={"schemas": [PATCH], "Operations": [gone]})
        assert not dataset_list_visible(user=member).filter(pk=dataset.pk).exists()
