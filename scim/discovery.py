"""What ``/scim/v2/`` publishes about itself (RFC 7643 §5-7): the service provider's
configuration, the two resource types and their schemas. The schemas list only the
attributes this server stores, so a client (and scim2-tester) never sends one that would be
silently dropped."""

from __future__ import annotations

from functools import cache

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    ETag,
    Filter,
    Group,
    Patch,
    ResourceType,
    Schema,
    ServiceProviderConfig,
    Sort,
    User,
)

# Largest page a list or search returns (``count`` above it is cut to it).
MAX_RESULTS = 200

# Per resource, the attributes kept (``None``: every sub-attribute of a complex one).
_USER_ATTRIBUTES: dict[str, set[str] | None] = {
    "userName": None,
    "name": {"givenName", "familyName"},
    "displayName": None,
    "active": None,
    "emails": {"value", "type", "primary"},
}
# Published as required although RFC 7643 leaves them optional: an account needs an address
# (its sign-in and unique key), and always is active or not. The server still takes an
# address from an email-shaped userName and keeps the status when active is left out.
_REQUIRED = {"emails", "emails.value", "active"}
_GROUP_ATTRIBUTES: dict[str, set[str] | None] = {
    "displayName": None,
    # No ``display``: clients compare what they sent with what they read back.
    "members": {"value", "$ref", "type"},
}


def _trimmed(schema: Schema, kept: dict[str, set[str] | None]) -> Schema:
    attributes = []
    for attribute in schema.attributes or []:
        if attribute.name not in kept:
            continue
        subs = kept[attribute.name]
        if subs is not None and attribute.sub_attributes:
            attribute.sub_attributes = [s for s in attribute.sub_attributes if s.name in subs]
        if attribute.name in _REQUIRED:
            attribute.required = attribute.required.true
        for sub in attribute.sub_attributes or []:
            if f"{attribute.name}.{sub.name}" in _REQUIRED:
                sub.required = sub.required.true
        if attribute.name == "members":
            for sub in attribute.sub_attributes or []:
                if sub.name == "$ref":
                    # Members are users: groups do not nest here.
                    sub.reference_types = ["User"]
        attributes.append(attribute)
    schema.attributes = attributes
    return schema


@cache
def user_schema() -> Schema:
    return _trimmed(User.to_schema(), _USER_ATTRIBUTES)


@cache
def group_schema() -> Schema:
    return _trimmed(Group.to_schema(), _GROUP_ATTRIBUTES)


def schemas() -> list[Schema]:
    return [user_schema(), group_schema()]


@cache
def resource_types() -> list[ResourceType]:
    return [ResourceType.from_resource(User), ResourceType.from_resource(Group)]


@cache
def service_provider_config() -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="Bearer token",
                description="A token an administrator creates in the admin (SCIM tokens).",
                primary=True,
            )
        ],
    )
