"""JSON views of the message view: earlier messages of a long branch, and the owner's
per-conversation settings (model, system prompt). Owner only: anyone else gets 404."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, JsonResponse
from django.middleware.csrf import get_token
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.preferences import preferences_get
from chat import selectors, services
from chat.models import Conversation
from chat.visibility import user_is_staff
from common.text import BadBody, json_body
from gateway import models_allowed_filter, models_for_user

# At most this many messages per request: one scroll-up's worth, with room.
MAX_IDS = 200


def _owned(request: HttpRequest, pk: int) -> Conversation:
    try:
        return selectors.conversation_get(user=request.user, id=pk)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None


def _bad(detail: str) -> JsonResponse:
    return JsonResponse({"code": "bad_request", "detail": detail}, status=400)


@require_GET
@never_cache
@login_required
def messages(request: HttpRequest, pk: int) -> JsonResponse:
    """``?ids=1,2,3``: those messages of the conversation, with their text, oldest first."""
    conversation = _owned(request, pk)
    raw = [part for part in request.GET.get("ids", "").split(",") if part]
    if not raw or len(raw) > MAX_IDS or not all(part.isdigit() and len(part) < 19 for part in raw):
        return _bad(f"ids must be 1 to {MAX_IDS} comma-separated message ids")
    found = selectors.thread_messages(conversation=conversation, ids=[int(p) for p in raw])
    return JsonResponse(
        {
            "messages": [
                selectors.message_payload(m, staff=user_is_staff(request.user)) for m in found
            ]
        }
    )


@require_POST
@login_required
def conversation_settings(request: HttpRequest, pk: int) -> JsonResponse:
    """A JSON object with ``system_prompt`` and/or ``model`` (empty: the default)."""
    conversation = _owned(request, pk)
    try:
        body = json_body(request, empty_ok=False)
    except BadBody as exc:
        return _bad(str(exc))
    if not body or set(body) - {"system_prompt", "model"}:
        return _bad("send an object with system_prompt and/or model")
    prompt = body.get("system_prompt")
    if prompt is not None and (
        not isinstance(prompt, str)
        or len(prompt) > settings.AIPORTAL_MAX_MESSAGE_CHARS
        or "\x00" in prompt
    ):
        limit = settings.AIPORTAL_MAX_MESSAGE_CHARS
        return _bad(f"system_prompt must be text of at most {limit} characters")
    model = body.get("model")
    if model is not None:
        if not isinstance(model, str):
            return _bad("model must be a string")
        # Whether the owner may use it; whether a worker serves it is the send's to say
        # (model_unavailable), as serving changes from minute to minute anyway.
        if model and not models_allowed_filter(user=request.user, models=[model]):
            return JsonResponse(
                {
                    "code": "model_unavailable",
                    "detail": _("That model is not available to you right now."),
                },
                status=400,
            )
    services.conversation_settings_update(
        conversation=conversation, system_prompt=prompt, model=model
    )
    return JsonResponse({"conversation": selectors.conversation_payload(conversation)})


def _model_shown(request: HttpRequest, conversation: Conversation | None) -> str:
    """The picker's model: the conversation's; for a new chat, the person's default model
    (Settings → Preferences), else the admins'."""
    if conversation is None and (chosen := preferences_get(user=request.user).default_model):
        return chosen
    return selectors.conversation_model(conversation=conversation)


def thread_page_data(request: HttpRequest, *, conversation: Conversation | None) -> dict:
    """The message view's part of the page's JSON: the whole tree (ids only), the text of
    the last ``THREAD_WINDOW`` messages of the shown branch, and the model picker's choices."""
    defaults = selectors.chat_defaults()
    tree = selectors.message_tree(conversation=conversation) if conversation else []
    leaf = selectors.branch_leaf(tree=tree)
    path = selectors.branch_path(tree=tree, leaf_id=leaf) if leaf is not None else []
    shown = path[-selectors.THREAD_WINDOW :]
    window = selectors.thread_messages(conversation=conversation, ids=shown) if shown else []
    return {
        "tree": tree,
        "messages": [
            selectors.message_payload(m, staff=user_is_staff(request.user)) for m in window
        ],
        "model": _model_shown(request, conversation),
        "defaultSystemPrompt": defaults.system_prompt,
        "csrfToken": get_token(request),
    }


@require_GET
@never_cache
async def models(request: HttpRequest) -> JsonResponse:
    """The model picker's choices: models served now that the user may use. Async, as the
    gateway's pool snapshot is; the page asks for it once it has loaded."""
    user = await request.auser()
    if not user.is_authenticated:
        raise Http404("Sign in first.")
    return JsonResponse({"models": await models_for_user(user)})
