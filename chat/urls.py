from django.urls import path

from chat import thread_views, views

app_name = "chat"

urlpatterns = [
    path("", views.index, name="index"),
    path("c/<int:pk>/", views.conversation, name="conversation"),
    path("chat/models/", thread_views.models, name="thread_models"),
    path("c/<int:pk>/messages/", thread_views.messages, name="thread_messages"),
    path("c/<int:pk>/settings/", thread_views.conversation_settings, name="thread_settings"),
]
