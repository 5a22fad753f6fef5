"""Settings pages (included from aiportal/urls.py at ``settings/``; API keys live at
``settings/keys/``, gateway/urls/keys.py)."""

from django.urls import path

from accounts.views import preferences, settings

app_name = "settings"

urlpatterns = [
    path("", settings.settings_index, name="index"),
    path("preferences/", preferences.preferences_page, name="preferences"),
    path("data/", settings.data_page, name="data"),
    path("data/export", settings.data_export_start, name="data_export"),
    path("data/export/<int:pk>/download", settings.data_export_fetch, name="data_export_download"),
    path("data/delete", settings.account_delete_view, name="account_delete"),
]
