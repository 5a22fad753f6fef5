from django.urls import path

from datasets.views import api, pages

app_name = "datasets"

urlpatterns = [
    path("", pages.dataset_list, name="list"),
    path("<int:pk>/", pages.dataset_detail, name="detail"),
    path("<int:pk>/upload/", pages.dataset_upload, name="upload"),
    path("<int:pk>/sources/", pages.dataset_source_add, name="source_add"),
    path(
        "<int:pk>/sources/<int:source_pk>/remove/",
        pages.dataset_source_remove,
        name="source_remove",
    ),
    path("<int:pk>/grants/", pages.dataset_grant_add, name="grant_add"),
    path("<int:pk>/grants/<int:grant_pk>/revoke/", pages.dataset_grant_revoke, name="grant_revoke"),
    path("<int:pk>/refill/", pages.dataset_refill, name="refill"),
    path("<int:pk>/delete/", pages.dataset_delete_view, name="delete"),
    path("<int:pk>/export/", pages.dataset_export_view, name="export"),
    path(
        "<int:pk>/exports/<int:export_pk>.zip",
        pages.dataset_export_download,
        name="export_download",
    ),
    path("jobs/<int:pk>/cancel/", pages.job_cancel, name="job_cancel"),
    path("api/jobs/<int:pk>/", pages.job_status, name="api_job"),
    path("api/picker/", api.picker_datasets, name="api_picker"),
    path("api/chunks/<int:pk>/", api.chunk_passage, name="api_chunk"),
]
