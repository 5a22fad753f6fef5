from django.urls import path

from datasets import views_api

app_name = "datasets"

urlpatterns = [
    path("api/picker/", views_api.picker_datasets, name="api_picker"),
    path("api/chunks/<int:pk>/", views_api.chunk_passage, name="api_chunk"),
]
