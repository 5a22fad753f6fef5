"""The provisioning sequences Entra ID and Okta send, replayed against a real Daphne, and
what each request does to accounts, groups and the audit log. The payloads are the shapes
each provider documents (Entra's capitalised ops, string booleans and value-path PATCHes;
Okta's PUT and no-path PATCH), with made-up names."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from accounts.models import AuditEvent, User
from scim.models import ScimGroup, ScimToken
from tests.scim.fixtures import AVAILABLE_APPS, SCIM_TYPE, scim_client, scim_token

pytestmark = pytest.mark.django_db(transaction=True, available_apps=AVAILABLE_APPS)

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def _patch(*operations: dict) -> dict:
    return {"schemas": [PATCH], "Operations": list(operations)}


@pytest.fixture
def scim(daphne_url):
    with scim_client(daphne_url, scim_token()) as client:
        yield client


def test_the_entra_id_sequence_provisions_updates_deactivates_and_removes_a_user(scim):
    # Entra first looks the person up, then creates them.
    found = scim.get("/Users", params={"filter": 'userName eq "ada@contoso.example"'})
    assert found.status_code == 200
    assert found.json()["schemas"] == [LIST] and found.json()["totalResults"] == 0
    created = scim.post(
        "/Users",
        json={
            "schemas": [USER, ENTERPRISE],
            "externalId": "ada",
            "userName": "ada@contoso.example",
            "active": True,
            "displayName": "Ada Lovelace",
            "emails": [{"primary": True, "type": "work", "value": "ada@contoso.example"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"},
            "roles": [],
            ENTERPRISE: {"department": "Engines"},
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["Content-Type"] == SCIM_TYPE
    body = created.json()
    assert created.headers["Location"] == body["meta"]["location"]
    assert body["userName"] == "ada@contoso.example" and body["active"] is True
    ada = User.objects.get(pk=body["id"])
    assert (ada.email, ada.first_name, ada.last_name) == ("ada@contoso.example", "Ada", "Lovelace")
    assert ada.status == User.Status.ACTIVE and not ada.has_usable_password()

    by_external = scim.get("/Users", params={"filter": 'externalId eq "ada"'}).json()
    assert [r["id"] for r in by_external["Resources"]] == [body["id"]]

    # A work address where there was none: Entra expects the entry to be made.
    other = scim.post(
        "/Users",
        json={"schemas": [USER], "userName": "bob@contoso.example", "customThing": "x"},
    )
    assert other.status_code == 201, other.text
    work = {"op": "Add", "path": 'emails[type eq "work"].value', "value": "bob@work.example"}
    made = scim.patch(f"/Users/{other.json()['id']}", json=_patch(work))
    assert made.status_code == 200, made.text
    assert {"type": "work", "value": "bob@work.example"} in [
        {k: e[k] for k in ("type", "value")} for e in made.json()["emails"] if "type" in e
    ]

    # Entra's attribute updates: capitalised ops, a value-path on emails.
    changed = scim.patch(
        f"/Users/{body['id']}",
        json=_patch(
            {"op": "Replace", "path": "name.familyName", "value": "King"},
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "ada@king.example"},
            {"op": "Add", "path": f"{ENTERPRISE}:department", "value": "Analytics"},
        ),
    )
    assert changed.status_code == 200, changed.text
    ada.refresh_from_db()
    assert (ada.last_name, ada.email) == ("King", "ada@king.example")

    # Deactivation: "Replace" with the string "False", as Entra sends it.
    off = scim.patch(
        f"/Users/{body['id']}", json=_patch({"op": "Replace", "path": "active", "value": "False"})
    )
    assert off.status_code == 200 and off.json()["active"] is False
    ada.refresh_from_db()
    assert ada.status == User.Status.SUSPENDED
    on = scim.patch(
        f"/Users/{body['id']}", json=_patch({"op": "Replace", "path": "active", "value": "True"})
    )
    assert on.json()["active"] is True
    ada.refresh_from_db()
    assert ada.status == User.Status.ACTIVE

    # Removal: suspended and hidden from SCIM, the account and its data kept.
    assert scim.delete(f"/Users/{body['id']}").status_code == 204
    assert scim.get(f"/Users/{body['id']}").status_code == 404
    ada.refresh_from_db()
    assert ada.status == User.Status.SUSPENDED and ada.scim.deprovisioned_at is not None
    # Provisioned again under the same userName: the same account comes back.
    again = scim.post(
        "/Users",
        json={"schemas": [USER], "userName": "ada@contoso.example", "active": True,
              "emails": [{"primary": True, "value": "ada@contoso.example"}]},
    )  # fmt: skip
    assert again.status_code == 201 and again.json()["id"] == body["id"]
    ada.refresh_from_db()
    assert ada.status == User.Status.ACTIVE and ada.scim.deprovisioned_at is None

    actions = list(
        AuditEvent.objects.filter(target_id=str(ada.pk))
        .order_by("at", "id")
        .values_list("action", flat=True)
    )
    assert actions.count("scim.user.create") == 2
    assert "scim.user.update" in actions and "scim.user.delete" in actions
    assert actions.count("user.status.set") >= 3  # off, on, delete, on again


def test_the_entra_id_group_sequence_creates_a_group_and_changes_its_members(scim):
    ids = [
        scim.post(
            "/Users",
            json={"schemas": [USER], "userName": f"{name}@contoso.example", "active": True},
        ).json()["id"]
        for name in ("grace", "alan")
    ]
    group = scim.post(
        "/Groups",
        json={"schemas": [GROUP], "externalId": "g-1", "displayName": "Engineers",
              "members": []},
    )  # fmt: skip
    assert group.status_code == 201, group.text
    gid = group.json()["id"]
    assert ScimGroup.objects.filter(group_id=gid, external_id="g-1").exists()
    looked_up = scim.get("/Groups", params={"filter": 'displayName eq "Engineers"'}).json()
    assert [r["id"] for r in looked_up["Resources"]] == [gid]

    added = scim.patch(
        f"/Groups/{gid}",
        json=_patch({"op": "Add", "path": "members", "value": [{"value": i} for i in ids]}),
    )
    assert added.status_code == 200, added.text
    engineers = Group.objects.get(pk=gid)
    assert sorted(str(pk) for pk in engineers.user_set.values_list("pk", flat=True)) == sorted(ids)
    removed = scim.patch(
        f"/Groups/{gid}",
        json=_patch({"op": "Remove", "path": f'members[value eq "{ids[0]}"]'}),
    )
    assert [m["value"] for m in removed.json()["members"]] == [ids[1]]
    assert list(engineers.user_set.values_list("pk", flat=True)) == [int(ids[1])]
    # Entra's other removal form: the members to remove as the value, no filter.
    scim.patch(f"/Groups/{gid}", json=_patch({"op": "Add", "path": "members",
                                              "value": [{"value": ids[0]}]}))  # fmt: skip
    by_value = scim.patch(
        f"/Groups/{gid}",
        json=_patch({"op": "Remove", "path": "members", "value": [{"value": ids[0]}]}),
    )
    assert by_value.status_code == 200, by_value.text
    assert [m["value"] for m in by_value.json()["members"]] == [ids[1]]
    # Entra renames with a Replace on displayName.
    scim.patch(
        f"/Groups/{gid}",
        json=_patch({"op": "Replace", "path": "displayName", "value": "Engineering"}),
    )
    engineers.refresh_from_db()
    assert engineers.name == "Engineering"

    # A user's removal takes them out of SCIM's groups.
    assert scim.delete(f"/Users/{ids[1]}").status_code == 204
    assert not engineers.user_set.exists()
    assert scim.delete(f"/Groups/{gid}").status_code == 204
    assert not Group.objects.filter(pk=gid).exists()
    assert scim.get(f"/Groups/{gid}").status_code == 404
    assert AuditEvent.objects.filter(action="scim.group.delete", target_id=gid).exists()


def test_the_okta_sequence_puts_profiles_and_deactivates_without_a_path(scim):
    # Okta's create carries a password (never used: the account signs in through SSO).
    created = scim.post(
        "/Users",
        json={
            "schemas": [USER], "userName": "lin@okta.example",
            "name": {"givenName": "Lin", "familyName": "Ho"},
            "emails": [{"primary": True, "value": "lin@okta.example", "type": "work"}],
            "displayName": "Lin Ho", "locale": "en-US", "externalId": "00u1",
            "groups": [], "password": "Tr0ub4dor&3", "active": True,
        },
    )  # fmt: skip
    assert created.status_code == 201, created.text
    uid = created.json()["id"]
    lin = User.objects.get(pk=uid)
    assert not lin.has_usable_password()
    replaced = scim.put(
        f"/Users/{uid}",
        json={
            "schemas": [USER], "id": uid, "userName": "lin@okta.example",
            "name": {"givenName": "Lin", "familyName": "Hope"},
            "emails": [{"primary": True, "value": "lin@okta.example", "type": "work"}],
            "active": True,
        },
    )  # fmt: skip
    assert replaced.status_code == 200 and replaced.json()["name"]["familyName"] == "Hope"
    assert "displayName" not in replaced.json()  # what a PUT leaves out is cleared
    off = scim.patch(f"/Users/{uid}", json=_patch({"op": "replace", "value": {"active": False}}))
    assert off.status_code == 200 and off.json()["active"] is False
    lin.refresh_from_db()
    assert lin.status == User.Status.SUSPENDED

    group = scim.post("/Groups", json={"schemas": [GROUP], "displayName": "Okta people"}).json()
    scim.patch(
        f"/Groups/{group['id']}",
        json=_patch({"op": "add", "path": "members", "value": [{"value": uid, "display": "lin"}]}),
    )
    renamed = scim.patch(
        f"/Groups/{group['id']}",
        json=_patch({"op": "replace", "value": {"id": group["id"], "displayName": "Okta folks"}}),
    )
    assert renamed.status_code == 200 and renamed.json()["displayName"] == "Okta folks"
    assert [m["value"] for m in renamed.json()["members"]] == [uid]
    replaced_group = scim.put(
        f"/Groups/{group['id']}", json={"schemas": [GROUP], "displayName": "Okta folks"}
    )
    assert "members" not in replaced_group.json()


def test_lists_page_with_start_index_and_count(scim):
    for n in range(5):
        scim.post("/Users", json={"schemas": [USER], "userName": f"p{n}@page.example"})
    page = scim.get(
        "/Users", params={"filter": 'userName sw "p"', "startIndex": 2, "count": 2}
    ).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 2, 2)
    assert [r["userName"] for r in page["Resources"]] == ["p1@page.example", "p2@page.example"]
    searched = scim.post(
        "/Users/.search",
        json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
              "filter": 'userName ew "@page.example" and not (userName eq "p0@page.example")',
              "attributes": ["userName"], "count": 10},
    ).json()  # fmt: skip
    assert searched["totalResults"] == 4
    assert all(set(r) == {"schemas", "id", "userName"} for r in searched["Resources"])
    only_count = scim.get("/Users", params={"count": 0}).json()
    assert only_count["totalResults"] >= 5 and "Resources" not in only_count


def test_errors_are_scim_error_documents_with_their_status(scim, member, make_user):
    def error(response, status: int, scim_type: str | None = None) -> None:
        assert response.status_code == status, response.text
        body = response.json()
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
        assert body["status"] == str(status)
        if scim_type:
            assert body["scimType"] == scim_type

    # The account made by sign-up is found by its address as userName, and is a conflict.
    error(scim.post("/Users", json={"schemas": [USER], "userName": member.email}), 409,
          "uniqueness")  # fmt: skip
    error(scim.get("/Users", params={"filter": 'nickName eq "x"'}), 400, "invalidFilter")
    error(scim.get("/Users", params={"filter": "userName eq"}), 400, "invalidFilter")
    error(scim.get("/Users/999999"), 404)
    error(scim.post("/Users", content=b"{not json"), 400, "invalidSyntax")
    error(scim.post("/Users", json={"schemas": [USER], "userName": "no-address"}), 400,
          "invalidValue")  # fmt: skip
    error(scim.post("/Groups", json={"schemas": [GROUP], "displayName": "x",
                                     "members": [{"value": "999999"}]}), 400)  # fmt: skip
    error(scim.post("/.search", json={}), 501)
    # An admin's address cannot be changed by a token (a password reset would follow it)...
    admin = make_user("boss@example.com", is_staff=True)
    take_over = {"op": "replace", "path": "userName", "value": "evil@example.com"}
    error(scim.patch(f"/Users/{admin.pk}", json=_patch(take_over)), 403)
    admin.refresh_from_db()
    assert admin.username == "boss@example.com"
    # ...but the provider may still suspend them.
    off = scim.patch(f"/Users/{admin.pk}", json=_patch({"op": "replace", "path": "active",
                                                           "value": False}))  # fmt: skip
    assert off.status_code == 200 and off.json()["active"] is False
    error(scim.delete("/ServiceProviderConfig"), 405)


def test_scim_never_touches_a_group_it_did_not_create(scim, member):
    from accounts.sso.groups import sso_groups_sync
    from accounts.sso.models import SsoGroup

    by_hand = Group.objects.create(name="Finance")
    by_sso = Group.objects.create(name="sso-staff")
    SsoGroup.objects.create(group=by_sso, provider_id="corp", claim_value="staff")
    listed = scim.get("/Groups").json()
    assert listed["totalResults"] == 0
    assert scim.get(f"/Groups/{by_hand.pk}").status_code == 404
    assert scim.delete(f"/Groups/{by_sso.pk}").status_code == 404
    clash = scim.post("/Groups", json={"schemas": [GROUP], "displayName": "Finance"})
    assert clash.status_code == 409 and clash.json()["scimType"] == "uniqueness"

    # And SSO sync leaves SCIM's groups alone: a sign-in without the claim removes only its own.
    ours = scim.post(
        "/Groups",
        json={
            "schemas": [GROUP],
            "displayName": "Provisioned",
            "members": [{"value": str(member.pk)}],
        },
    ).json()
    member.groups.add(by_sso)
    sso_groups_sync(user=member, provider_id="corp", values=set())
    assert set(member.groups.values_list("name", flat=True)) == {"Provisioned"}
    location = f"{str(scim.base_url).rstrip('/')}/Users/{member.pk}"
    assert ours["members"] == [{"value": str(member.pk), "$ref": location, "type": "User"}]


def test_tokens_missing_wrong_or_revoked_get_a_401(daphne_url, make_user):
    from scim.tokens import scim_token_create, scim_token_revoke

    admin_user = make_user("admin@example.com", is_staff=True)
    row, token = scim_token_create(name="Okta", by=admin_user)
    with scim_client(daphne_url, token) as good:
        assert good.get("/ServiceProviderConfig").status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None
    assert token not in str(ScimToken.objects.values_list()) and row.digest != token
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for header in ({}, {"Authorization": f"Bearer {tampered}"}, {"Authorization": token}):
        with scim_client(daphne_url, "") as client:
            client.headers.pop("Authorization")
            response = client.get("/Users", headers=header)
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    scim_token_revoke(token=row, by=admin_user)
    with scim_client(daphne_url, token) as revoked:
        assert revoked.get("/Users").status_code == 401
    # A signed-in admin's session is no SCIM credential either.
    with scim_client(daphne_url, "") as client:
        client.headers.pop("Authorization")
        assert client.get("/Users").status_code == 401
    events = AuditEvent.objects.filter(target_type="scim.token", target_id=str(row.pk))
    assert sorted(events.values_list("action", flat=True)) == [
        "scim.token.create", "scim.token.revoke"
    ]  # fmt: skip
    assert all(e.actor_id == admin_user.pk for e in events)
