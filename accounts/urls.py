"""Settings pages (included from aiportal/urls.py at ``settings/``; API keys live at
``settings/keys/``, gateway/keys_urls.py)."""

from django.urls import path

from accounts import views

app_name = "settings"

urlpatterns = [
    path("", views.settings_index, name="index"),
    path("data/", views.data_page, name="data"),
    path("data/export", views.data_export_start, name="data_export"),
    path("data/export/<int:pk>/download", views.data_export_fetch, name="data_export_download"),
    path("data/delete", views.account_delete_view, name="account_delete"),
]
