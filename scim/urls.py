"""``/scim/v2/`` (mounted in aiportal/urls.py, outside any language prefix). Each resource
path takes an optional trailing slash: identity providers differ on it."""

from django.urls import path, re_path

from scim import views

app_name = "scim"

urlpatterns = [
    re_path(r"^ServiceProviderConfig/?$", views.service_provider_config, name="config"),
    re_path(r"^Schemas/?$", views.schemas, name="schemas"),
    re_path(r"^Schemas/(?P<pk>[^/]+)/?$", views.schemas, name="schema"),
    re_path(r"^ResourceTypes/?$", views.resource_types, name="resource-types"),
    re_path(r"^ResourceTypes/(?P<pk>[^/]+)/?$", views.resource_types, name="resource-type"),
    re_path(r"^Users/?$", views.users_collection, name="users"),
    re_path(r"^Users/\.search/?$", views.users_search, name="users-search"),
    re_path(r"^Users/(?P<pk>[^/]+)/?$", views.user_item, name="user"),
    re_path(r"^Groups/?$", views.groups_collection, name="groups"),
    re_path(r"^Groups/\.search/?$", views.groups_search, name="groups-search"),
    re_path(r"^Groups/(?P<pk>[^/]+)/?$", views.group_item, name="group"),
    path(".search", views.root_search, name="search"),
    re_path(r"^(?P<rest>.*)$", views.unknown, name="unknown"),
]
