from django.contrib import admin
from django.utils.translation import gettext_lazy

from chat.models import ChatDefaults, Conversation, Message


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("id", "role", "status", "parent", "short_content", "model", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("created_at", "id")

    @admin.display(description=gettext_lazy("content"))
    def short_content(self, message: Message) -> str:
        return message.content[:120]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "owner", "model", "created_at", "updated_at")
    list_select_related = ("owner",)
    search_fields = ("title", "owner__email")
    date_hierarchy = "updated_at"
    raw_id_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")
    inlines = [MessageInline]

    def has_add_permission(self, request) -> bool:
        # People start conversations in the chat; a row made here would have no messages.
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "role", "status", "model", "error_code", "created_at")
    list_filter = ("status", "role", "model")
    list_select_related = ("conversation",)
    search_fields = ("content", "conversation__title", "conversation__owner__email")
    raw_id_fields = ("conversation", "parent")
    readonly_fields = ("created_at", "updated_at", "last_seq", "usage", "metrics")

    def has_add_permission(self, request) -> bool:
        # Messages are written by turns (chat/services/messages.py), never typed in by hand.
        return False


@admin.register(ChatDefaults)
class ChatDefaultsAdmin(admin.ModelAdmin):
    fields = ("model", "system_prompt", "updated_at")
    readonly_fields = ("updated_at",)

    def has_add_permission(self, request) -> bool:
        # One row, created on first read: admins edit it, never add a second.
        return not ChatDefaults.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
