from django.urls import path

from chat.views import attachments, conversations, pages, thread

app_name = "chat"

urlpatterns = [
    path("", pages.index, name="index"),
    path("c/<int:pk>/", pages.conversation, name="conversation"),
    path(
        "c/<int:pk>/export.md",
        conversations.conversation_export,
        {"fmt": "md"},
        name="export_markdown",
    ),
    path(
        "c/<int:pk>/export.json",
        conversations.conversation_export,
        {"fmt": "json"},
        name="export_json",
    ),
    path("s/<str:token>/", conversations.shared_conversation, name="shared"),
    path("api/conversations/", conversations.conversation_list, name="api_conversations"),
    path(
        "api/conversations/<int:pk>/rename/",
        conversations.conversation_rename,
        name="api_rename",
    ),
    path("api/conversations/<int:pk>/pin/", conversations.conversation_pin, name="api_pin"),
    path(
        "api/conversations/<int:pk>/delete/",
        conversations.conversation_delete,
        name="api_delete",
    ),
    path(
        "api/conversations/<int:pk>/restore/",
        conversations.conversation_restore,
        name="api_restore",
    ),
    path("api/conversations/<int:pk>/share/", conversations.share_create, name="api_share"),
    path(
        "api/conversations/<int:pk>/share/revoke/",
        conversations.share_revoke,
        name="api_share_revoke",
    ),
    path("chat/models/", thread.models, name="thread_models"),
    path("chat/attachments/", attachments.upload, name="attachment_upload"),
    path("chat/attachments/<int:pk>/", attachments.detail, name="attachment"),
    path("chat/attachments/<int:pk>/thumb/", attachments.thumb, name="attachment_thumb"),
    path(
        "chat/attachments/s/<str:token>/<int:pk>/",
        attachments.shared,
        name="shared_attachment",
    ),
    path(
        "chat/attachments/s/<str:token>/<int:pk>/thumb/",
        attachments.shared_thumb,
        name="shared_attachment_thumb",
    ),
    path("c/<int:pk>/messages/", thread.messages, name="thread_messages"),
    path("c/<int:pk>/settings/", thread.conversation_settings, name="thread_settings"),
]
