from django.urls import path

from chat import thread_views, views, views_conversations

app_name = "chat"

urlpatterns = [
    path("", views.index, name="index"),
    path("c/<int:pk>/", views.conversation, name="conversation"),
    path(
        "c/<int:pk>/export.md",
        views_conversations.conversation_export,
        {"fmt": "md"},
        name="export_markdown",
    ),
    path(
        "c/<int:pk>/export.json",
        views_conversations.conversation_export,
        {"fmt": "json"},
        name="export_json",
    ),
    path("s/<str:token>/", views_conversations.shared_conversation, name="shared"),
    path("api/conversations/", views_conversations.conversation_list, name="api_conversations"),
    path(
        "api/conversations/<int:pk>/rename/",
        views_conversations.conversation_rename,
        name="api_rename",
    ),
    path("api/conversations/<int:pk>/pin/", views_conversations.conversation_pin, name="api_pin"),
    path(
        "api/conversations/<int:pk>/delete/",
        views_conversations.conversation_delete,
        name="api_delete",
    ),
    path(
        "api/conversations/<int:pk>/restore/",
        views_conversations.conversation_restore,
        name="api_restore",
    ),
    path("api/conversations/<int:pk>/share/", views_conversations.share_create, name="api_share"),
    path(
        "api/conversations/<int:pk>/share/revoke/",
        views_conversations.share_revoke,
        name="api_share_revoke",
    ),
    path("chat/models/", thread_views.models, name="thread_models"),
    path("c/<int:pk>/messages/", thread_views.messages, name="thread_messages"),
    path("c/<int:pk>/settings/", thread_views.conversation_settings, name="thread_settings"),
]
