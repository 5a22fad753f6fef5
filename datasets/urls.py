from django.urls import path

from datasets import views, views_api

app_name = "datasets"

urlpatterns = [
    path("", views.dataset_list, name="list"),
    path("<int:pk>/", views.dataset_detail, name="detail"),
    path("<int:pk>/upload/", views.dataset_upload, name="upload"),
    path("<int:pk>/sources/", views.dataset_source_add, name="source_add"),
    path(
        "<int:pk>/sources/<int:source_pk>/remove/",
        views.dataset_source_remove,
        name="source_remove",
    ),
    path("<int:pk>/grants/", views.dataset_grant_add, name="grant_add"),
    path("<int:pk>/grants/<int:grant_pk>/revoke/", views.dataset_grant_revoke, name="grant_revoke"),
    path("<int:pk>/refill/", views.dataset_refill, name="refill"),
    path("<int:pk>/delete/", views.dataset_delete_view, name="delete"),
    path("<int:pk>/export/", views.dataset_export_view, name="export"),
    path(
        "<int:pk>/exports/<int:export_pk>.zip",
        views.dataset_export_download,
        name="export_download",
    ),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
    path("api/jobs/<int:pk>/", views.job_status, name="api_job"),
    path("api/picker/", views_api.picker_datasets, name="api_picker"),
    path("api/chunks/<int:pk>/", views_api.chunk_passage, name="api_chunk"),
]
