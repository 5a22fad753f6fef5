from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Conversation(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, blank=True)
    # The model the user picked; empty means the deployment's default.
    model = models.CharField(max_length=200, blank=True)
    # Sent to the model as a leading system message; empty means the admins' default.
    system_prompt = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    # Pinned conversations head the sidebar, whatever their age.
    pinned = models.BooleanField(default=False)
    # Soft delete: set when the user deletes, so an undo within a few seconds restores
    # everything; selectors hide such rows, and a purge removes them for good later.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Ids of the datasets this conversation searches on every turn (the composer's picker).
    # Ids, not a foreign key: a dataset the owner may no longer query is dropped from here at
    # the next turn (chat/services/retrieval.py), and a deleted one is simply not found.
    datasets = models.JSONField(default=list, blank=True)
    # Full names ("server/tool") of the MCP tools offered on every turn (the composer's
    # picker). Names, not keys: each turn offers only those the owner may still use
    # (tools.selectors.tools_usable), and a tool removed since is simply not found.
    tools = models.JSONField(default=list, blank=True)
    # The assistant the conversation started from: its instructions, model, datasets and
    # sampling apply to every turn while the owner may still use it (chat/services/
    # assistant_turn.py). SET_NULL: a deleted assistant leaves a plain conversation.
    assistant = models.ForeignKey(
        "assistants.Assistant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["owner", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Message(models.Model):
    """One node of a conversation's tree: edits and regenerations are siblings (same parent)."""

    class Role(models.TextChoices):
        SYSTEM = "system"
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        # An assistant message is created "streaming" and always ends in one of the others;
        # a generator that dies leaves it to be marked "interrupted", never streaming forever.
        STREAMING = "streaming"
        COMPLETE = "complete"
        STOPPED = "stopped"
        INTERRUPTED = "interrupted"
        ERROR = "error"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    # A reasoning model's thinking before the answer (vLLM's "reasoning"): shown apart, never
    # part of ``content`` and never sent back to the model.
    reasoning = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    model = models.CharField(max_length=200, blank=True)
    # Sequence number of the last delta saved into ``content``: a resuming client asks for
    # everything after the number it has.
    last_seq = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    # ttft_ms, worker, region, attempts: what the answer's details show on demand.
    metrics = models.JSONField(default=dict, blank=True)
    # An answer's tool calls, in order: {id, tool, arguments, status, result (capped),
    # duration_ms, at (the answer's length when it was made)} (chat/services/tool_steps.py).
    tool_steps = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"]),
            models.Index(
                fields=["status"],
                name="chat_message_streaming_idx",
                condition=models.Q(status="streaming"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} message {self.pk}"


class ConversationShare(models.Model):
    """A read-only link to one conversation. Only a digest of the link's token is kept (like
    an API key): a leaked database or backup gives no working links. The owner sees the link
    once, when it is made; making a new one revokes the old."""

    # SET_NULL: a link outlives its conversation's deletion (by its owner or the retention
    # purge) as a digest and dates only, so that its page can say the conversation is gone
    # (410) instead of a bare "not found" (docs/chat.md, "Share links").
    conversation = models.ForeignKey(
        Conversation, null=True, on_delete=models.SET_NULL, related_name="shares"
    )
    token_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"share of conversation {self.conversation_id}"


class ChatDefaults(models.Model):
    """What a conversation uses when it chooses nothing itself, set by admins. A singleton:
    ``ChatDefaults.load()`` reads the one row, pk 1 (an admin creates it by saving it)."""

    model = models.CharField(
        max_length=200, blank=True, help_text=_("Empty: the first model the user may use.")
    )
    system_prompt = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "chat defaults"
        verbose_name_plural = "chat defaults"

    def __str__(self) -> str:
        return "Chat defaults"

    def save(self, *args, **kwargs) -> None:
        self.pk = 1  # there is only one
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> ChatDefaults:
        # Read only, never created here: the chat page (a GET) reads it, and a GET writes
        # nothing. Until an admin saves it, the defaults are an unsaved empty row.
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class Attachment(models.Model):
    """A file a person attached in the composer: a document (its text extracted at upload)
    or an image (re-encoded at upload, metadata gone). Uploaded before the message exists
    (``message`` and ``conversation`` null, "unsent"); bound to the user's message by the
    turn that sends it (chat/services/messages.py). The bytes are a file under
    ``AIPORTAL_ATTACHMENTS_DIR/<owner>/<stored>``, never named by what the person sent."""

    class Kind(models.TextChoices):
        DOCUMENT = "document"
        IMAGE = "image"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_attachments"
    )
    conversation = models.ForeignKey(
        Conversation,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="attachments",
    )
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    name = models.CharField(max_length=255)  # what the person called it: only ever a label
    media_type = models.CharField(max_length=100)  # what the stored bytes are, sniffed
    kind = models.CharField(max_length=16, choices=Kind.choices)
    size = models.PositiveBigIntegerField()  # of the stored bytes
    sha256 = models.CharField(max_length=64)
    stored = models.CharField(max_length=64)  # generated file name
    thumb_stored = models.CharField(max_length=64, blank=True)  # an image's thumbnail
    # A document's text (datasets/sources/formats.py): what the model reads, and the export.
    text = models.TextField(blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["owner", "message"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.name!r} ({self.size} bytes)"
