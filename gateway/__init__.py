"""The gateway's one door: what the rest of the project uses of it.

Chat, datasets, accounts and the benches import from here (``from gateway import X``), never
a gateway module, so that the gateway's insides can move without touching them. Exceptions:
Django's own wiring (admin, urls, migrations, ``INSTALLED_APPS``), the tests (which test
internals), ``gateway.emulator`` (a separate program), and the benches where they measure
pure internals: ``gateway.routing``, ``gateway.policies``, ``gateway.types`` (the routing
simulator), ``gateway.telemetry.prober``/``prometheus`` and ``gateway.http`` (what a probe
costs), and ``gateway.models.Worker``, whose rows bench/gateway_overhead.py seeds.

Django imports this package before the app registry is ready, so nothing is imported here at
import time: each name is looked up on first use (PEP 562 ``__getattr__``) in the module
named in ``_EXPORTS``. The per-process state the gateway holds, and its resets, are listed
in gateway/state.py.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.access import models_allowed_filter, models_for_user
    from gateway.callers import (
        POLICY_ATTEMPTS,
        Caller,
        PolicyChanged,
        PolicyCheck,
        caller_for_user,
        policies_version,
        policies_version_bump,
        policies_version_known,
    )
    from gateway.capabilities import (
        amodel_accepts_images,
        content_with_images,
        messages_have_images,
        model_accepts_images,
        model_context_length,
    )
    from gateway.embeddings import embed
    from gateway.errors import (
        EmbeddingModelUnset,
        GatewayError,
        ModelForbidden,
        ModelUnavailable,
        NoWorkers,
        OverBudget,
        PoliciesChanging,
        RateLimited,
        RegionUnavailable,
        RerankModelUnset,
        WorkersBusy,
    )
    from gateway.keys import apikey_create
    from gateway.pool import regions_known
    from gateway.proxy import (
        Delta,
        Finished,
        Thinking,
        ToolCall,
        ToolCalls,
        chat_stream,
        completion_batches,
        completion_once,
        completion_stream,
    )
    from gateway.regions import regions_parse
    from gateway.reranking import rerank, rerank_blocking
    from gateway.sampling import Sampling, sampling_body
    from gateway.usage import usage_flush
    from gateway.usage_retention import usage_purge_batch

# Name → the module that defines it.
_EXPORTS: dict[str, str] = {
    # Answers: the chat's stream of items, the OpenAI-shaped streams and one-shot answers.
    "chat_stream": "gateway.proxy",
    # Sampling settings for chat_stream (an assistant's temperature and top_p).
    "Sampling": "gateway.sampling",
    "sampling_body": "gateway.sampling",
    "completion_stream": "gateway.proxy",
    "completion_batches": "gateway.proxy",
    "completion_once": "gateway.proxy",
    "Delta": "gateway.proxy",
    "Finished": "gateway.proxy",
    "Thinking": "gateway.proxy",
    "ToolCall": "gateway.proxy",
    "ToolCalls": "gateway.proxy",
    # Vectors of texts from the deployment's embedding model (datasets' chunks and queries).
    "embed": "gateway.embeddings",
    # Relevance scores of documents for a query from the deployment's reranker (search).
    "rerank": "gateway.reranking",
    "rerank_blocking": "gateway.reranking",
    # Who is asking, and the access rules' version (bumped when they change).
    "Caller": "gateway.callers",
    "caller_for_user": "gateway.callers",
    "PolicyCheck": "gateway.callers",
    "PolicyChanged": "gateway.callers",
    "POLICY_ATTEMPTS": "gateway.callers",
    "policies_version": "gateway.callers",
    "policies_version_known": "gateway.callers",
    "policies_version_bump": "gateway.callers",
    # Which models a user may use.
    "models_for_user": "gateway.access",
    "models_allowed_filter": "gateway.access",
    # What a model can take: images (an admin's flag), how long a context (its cards).
    "model_accepts_images": "gateway.capabilities",
    "amodel_accepts_images": "gateway.capabilities",
    "model_context_length": "gateway.capabilities",
    "messages_have_images": "gateway.capabilities",
    "content_with_images": "gateway.capabilities",
    # Region lists, as policies and datasets store them.
    "regions_parse": "gateway.regions",
    "regions_known": "gateway.pool",
    # API keys.
    "apikey_create": "gateway.keys",
    # The retention purge's batch of usage records and their roll-ups.
    "usage_purge_batch": "gateway.usage_retention",
    # Writing the usage records queued in this event loop now, not in up to 250 ms (a loop
    # that outlives its caller's work: datasets' embedding loop).
    "usage_flush": "gateway.usage",
    # Errors a caller turns into a message.
    "EmbeddingModelUnset": "gateway.errors",
    "GatewayError": "gateway.errors",
    "ModelForbidden": "gateway.errors",
    "ModelUnavailable": "gateway.errors",
    "NoWorkers": "gateway.errors",
    "OverBudget": "gateway.errors",
    "PoliciesChanging": "gateway.errors",
    "RateLimited": "gateway.errors",
    "RegionUnavailable": "gateway.errors",
    "RerankModelUnset": "gateway.errors",
    "WorkersBusy": "gateway.errors",
}

__all__ = [
    "POLICY_ATTEMPTS",
    "Caller",
    "Delta",
    "EmbeddingModelUnset",
    "Finished",
    "GatewayError",
    "ModelForbidden",
    "ModelUnavailable",
    "NoWorkers",
    "OverBudget",
    "PoliciesChanging",
    "PolicyChanged",
    "PolicyCheck",
    "RateLimited",
    "RegionUnavailable",
    "RerankModelUnset",
    "Sampling",
    "Thinking",
    "ToolCall",
    "ToolCalls",
    "WorkersBusy",
    "amodel_accepts_images",
    "apikey_create",
    "caller_for_user",
    "chat_stream",
    "completion_batches",
    "completion_once",
    "completion_stream",
    "content_with_images",
    "embed",
    "messages_have_images",
    "model_accepts_images",
    "model_context_length",
    "models_allowed_filter",
    "models_for_user",
    "policies_version",
    "policies_version_bump",
    "policies_version_known",
    "regions_known",
    "regions_parse",
    "rerank",
    "rerank_blocking",
    "sampling_body",
    "usage_flush",
    "usage_purge_batch",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        # Also how ``from gateway import metrics`` finds a submodule: hasattr says no first.
        raise AttributeError(f"module 'gateway' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
