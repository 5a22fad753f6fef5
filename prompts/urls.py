from django.urls import path

from prompts.views import api, pages

app_name = "prompts"

urlpatterns = [
    path("", pages.prompt_list_page, name="list"),
    path("new/", pages.prompt_new, name="new"),
    path("<int:pk>/edit/", pages.prompt_edit, name="edit"),
    path("<int:pk>/delete/", pages.prompt_delete_page, name="delete"),
    path("export.json", pages.prompt_export, name="export"),
    path("import/", pages.prompt_import_page, name="import"),
    path("api/", api.prompt_list, name="api_list"),
    path("api/create/", api.prompt_create_view, name="api_create"),
    path("api/preview/", api.prompt_preview, name="api_preview"),
    path("api/<int:pk>/update/", api.prompt_update_view, name="api_update"),
    path("api/<int:pk>/delete/", api.prompt_delete_view, name="api_delete"),
]
