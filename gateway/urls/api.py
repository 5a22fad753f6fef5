"""``/v1``: the OpenAI-compatible API (included from aiportal/urls.py at ``v1/``)."""

from django.urls import path, re_path

from gateway.api import responses, views

app_name = "v1"

urlpatterns = [
    path("chat/completions", views.chat_completions, name="chat-completions"),
    path("completions", views.completions, name="completions"),
    path("embeddings", views.embeddings, name="embeddings"),
    path("responses", responses.responses, name="responses"),
    path("models", views.models, name="models"),
    # Model names often hold a slash (meta-llama/Llama-3.1-8B-Instruct).
    path("models/<path:model>", views.model_detail, name="model"),
    # Any character, a newline included (``%0a``): <path:…> stops at one, and the path
    # would fall through to Django's HTML 404 instead of OpenAI's JSON.
    re_path(r"^(?P<rest>(?s:.+))\Z", views.not_found),
]
