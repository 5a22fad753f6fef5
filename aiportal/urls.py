from django.contrib import admin
from django.urls import include, path

from accounts.signin import admin_sign_in
from aiportal import js_catalogue, views
from gateway.metrics_view import metrics_view

urlpatterns = [
    path("", include("chat.urls")),
    path("accounts/", include("accounts.urls.policy")),
    path("accounts/sessions/", include("accounts.urls.sessions")),
    path("accounts/", include("allauth.urls")),
    path("datasets/", include("datasets.urls")),
    path("assistants/", include("assistants.urls")),
    path("prompts/", include("prompts.urls")),
    # Before the admin's own: nobody signs in or changes a password past allauth's checks
    # (second factor, guessing limits); accounts/signin/admin_sign_in.py.
    path("admin/login/", admin_sign_in.admin_login),
    path("admin/password_change/", admin_sign_in.admin_password_change),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("v1/", include("gateway.urls.api")),
    # SCIM provisioning for identity providers, by bearer token (scim/, docs/accounts.md).
    path("scim/v2/", include("scim.urls")),
    path("settings/keys/", include("gateway.urls.keys")),
    path("settings/", include("accounts.urls.settings")),
    path("metrics", metrics_view, name="metrics"),
    # The JavaScript catalogue (aiportal/js_catalogue.py): pages use the versioned address.
    path("jsi18n/", js_catalogue.current, name="javascript-catalog"),
    path(
        "jsi18n/<str:language>/<str:version>.js",
        js_catalogue.versioned,
        name="js_catalogue_versioned",
    ),
]
