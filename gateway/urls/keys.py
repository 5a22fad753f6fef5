"""Settings → API keys (included from aiportal/urls.py at ``settings/keys/``)."""

from django.urls import path

from gateway.views import keys as keys_views

app_name = "apikeys"

urlpatterns = [
    path("", keys_views.key_list, name="list"),
    path("<int:pk>/revoke", keys_views.key_revoke, name="revoke"),
]
