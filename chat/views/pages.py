"""The chat page: server-rendered shell, initial state as JSON, the rest over the websocket."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from chat import selectors, services
from chat.models import Conversation
from chat.protocol import PROTOCOL_VERSION
from chat.views.conversations import sidebar_context
from chat.views.thread import thread_page_data
from tools.selectors import tools_for_picker


@require_GET
@never_cache
@login_required
def index(request: HttpRequest) -> HttpResponse:
    return _chat_page(request, conversation=None)


@require_GET
@never_cache
@login_required
def conversation(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        current = selectors.conversation_get(user=request.user, id=pk)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None
    # An answer whose generator died shows as interrupted, not as streaming forever.
    services.message_interrupt_stale(conversation_id=current.pk)
    return _chat_page(request, conversation=current)


def _chat_page(request: HttpRequest, *, conversation: Conversation | None) -> HttpResponse:
    data = {
        "v": PROTOCOL_VERSION,
        "conversation": selectors.conversation_payload(conversation) if conversation else None,
        "maxChars": settings.AIPORTAL_MAX_MESSAGE_CHARS,
        # The composer says "too big" and "too many" before uploading (the server checks too).
        "attachments": {
            "maxBytes": settings.AIPORTAL_ATTACHMENT_MAX_BYTES,
            "perMessage": settings.AIPORTAL_ATTACHMENTS_PER_MESSAGE,
        },
        # What the page says while an answer waits: when the gateway gives a worker up.
        "firstTokenTimeout": round(settings.AIPORTAL_FIRST_TOKEN_TIMEOUT),
        "idleTimeout": round(settings.AIPORTAL_IDLE_TIMEOUT),
        # The MCP tools the person may offer the model (the composer's picker).
        "tools": tools_for_picker(user=request.user),
        **thread_page_data(request, conversation=conversation),
    }
    sidebar = sidebar_context(request.user, current=conversation)
    return render(
        request,
        "chat/chat.html",
        {**sidebar, "current": conversation, "chat_data": data},
    )
