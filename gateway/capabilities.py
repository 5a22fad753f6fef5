"""What a model can take: images (an admin's ``ModelCapability`` row) and how long a context
(the workers' model cards, as the prober last read them).

The chat asks before it sends a turn with images, and ``/v1`` before it forwards
``image_url`` content parts: a text-only model refuses them with a clear message here rather
than with whatever its worker would answer.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from gateway.models import ModelCapability
from gateway.telemetry.snapshot import copy_fresh, prober_ensure


def model_accepts_images(*, model: str) -> bool:
    """Does ``model`` read images? Only when an admin said so (one query)."""
    return ModelCapability.objects.filter(model=model, vision=True).exists()


amodel_accepts_images = database_sync_to_async(model_accepts_images, thread_sensitive=False)


async def model_context_length(*, model: str) -> int | None:
    """The smallest ``max_model_len`` the workers serving ``model`` announce (a turn must fit
    whichever one it is routed to); None when no card says."""
    # As every reader of the pool: the prober must run, or the copy read here (and kept for
    # the routing that follows) would wait for a snapshot nobody publishes.
    prober_ensure()
    copy = await copy_fresh()
    if copy.snapshot is None:
        return None
    lengths = [
        entry.state.model_lens[model]
        for entry in copy.snapshot.entries
        if model in entry.state.model_lens
    ]
    return min(lengths) if lengths else None


def messages_have_images(messages: Any) -> bool:
    """Does an OpenAI ``messages`` list carry an ``image_url`` content part anywhere?"""
    if not isinstance(messages, list):
        return False
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
            isinstance(part, dict) and part.get("type") == "image_url" for part in content
        ):
            return True
    return False


def content_with_images(*, text: str, image_urls: list[str]) -> list[dict[str, Any]]:
    """A user message's OpenAI content: its text, then one ``image_url`` part per image
    (data URLs from the chat, passed on to the worker as they are)."""
    return [
        {"type": "text", "text": text},
        *({"type": "image_url", "image_url": {"url": url}} for url in image_urls),
    ]
