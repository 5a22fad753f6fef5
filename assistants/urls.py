from django.urls import path

from assistants.views import api, pages

app_name = "assistants"

urlpatterns = [
    path("", pages.assistant_list, name="list"),
    path("<int:pk>/", pages.assistant_detail, name="detail"),
    path("<int:pk>/delete/", pages.assistant_delete_view, name="delete"),
    path("<int:pk>/grants/", pages.assistant_grant_add_view, name="grant_add"),
    path(
        "<int:pk>/grants/<int:grant_pk>/remove/",
        pages.assistant_grant_remove_view,
        name="grant_remove",
    ),
    path("api/", api.assistant_list_api, name="api_list"),
    path("api/<int:pk>/", api.assistant_detail_api, name="api_detail"),
]
