"""Admitting and routing one request: the part of the proxy that decides where it goes.

``request_admitted`` runs admission (gateway/admission.py: budgets, the concurrent-stream
slot; gateway/access.py: model access) and waits in the fair queue while every worker the
request may use is saturated; the ``Router`` it yields picks the worker for each attempt from
a fresh snapshot, skipping the ones already tried and those whose circuit is open, and says
which error fits when none is left.

It also judges whose fault a failure is before a circuit hears of it. A worker that cannot
be reached, times out, says it is overloaded or breaks a stream is at fault, and its circuit
counts it at once. A worker that answers the request with an error of its own (a 500, an
error frame) may be sick, or the request may be poison: content that makes every worker
fail (a lone UTF-16 surrogate made vLLM's tokenizer raise). Counting those at once let three
poison requests, each failing over across the pool, open every circuit and take the model
away from everyone. So such a failure waits for another worker's answer to the same
request: another worker serving it convicts the first (its circuit counts it then); a second
worker failing it the same way acquits both, stops the failover and answers the caller
``RequestUnprocessable``; no other worker to ask (a pool of one, the others unreachable)
leaves it unjudged, counted nowhere.

A worker that answers 503 is neither: vLLM says so when its queue is full. The request
fails over, no circuit counts it, and the worker is marked busy for a moment
(``circuit_mark_busy``, ``AIPORTAL_BUSY_BACKOFF_MS``): this process tries it after every
other worker meanwhile and counts it saturated, so a request finding only busy workers
waits in the fair queue rather than knocking on each again. When every attempt met a full
queue the caller gets ``WorkersBusy`` (503, retryable, with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from django.conf import settings

from common import telemetry
from gateway import circuit
from gateway.access import model_allowed_for, models_for_user
from gateway.admission import budget_check, stream_slot
from gateway.admission_queue import fair_queue
from gateway.attempt import AttemptFailed
from gateway.callers import Caller, caller_limits
from gateway.errors import (
    GatewayError,
    ModelForbidden,
    ModelUnavailable,
    NoWorkers,
    RegionUnavailable,
    RequestUnprocessable,
    UpstreamFailed,
    WorkersBusy,
)
from gateway.rate_limits import rate_admit
from gateway.routing import load_score, route
from gateway.telemetry.snapshot import workers_snapshot
from gateway.types import RouteRequest, WorkerView

if TYPE_CHECKING:
    from opentelemetry.trace import Span

logger = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def request_admitted(
    *,
    caller: Caller,
    model: str | None,
    prompt_tokens: int = 0,
    trace: Span | None = None,
) -> AsyncIterator[Router]:
    """Budgets, a concurrent-stream slot (held for the body), the per-minute limits (with
    ``prompt_tokens``, the prompt's estimate), the model (the default when none is named)
    and access to it, a first route and, while every candidate is saturated, a turn in the
    fair queue. Yields the request's router. ``trace``: the request's span, parent of a
    ``gateway.admission`` span when tracing is on (gateway/tracing.py)."""
    admission = telemetry.span_start("gateway.admission", parent=trace) if trace else None
    try:
        limits = await caller_limits(caller)
        await budget_check(caller, limits)
        async with stream_slot(caller, limits):
            # Inside the slot: its round trip has confirmed the access version the limits
            # were resolved under, and a request refused for streams is not counted as one
            # more.
            taken = await rate_admit(caller, limits, prompt_tokens=prompt_tokens)
            router = Router(caller)
            router.rate_taken = taken
            views = await workers_snapshot()
            if not views:
                raise NoWorkers()
            router.model = model or await _model_default(caller, views)
            if not await model_allowed_for(caller, router.model):
                raise ModelForbidden(router.model)
            queued = await router.queue_if_saturated()
            if admission is not None:
                admission.set_attribute("aiportal.queued", queued)
                admission.end()
                admission = None
            try:
                yield router
            finally:
                router.unjudged_release()
    except BaseException as exc:
        telemetry.span_end(admission, error=exc)
        raise


async def _model_default(caller: Caller, views: list[WorkerView]) -> str:
    if settings.AIPORTAL_DEFAULT_MODEL:
        return settings.AIPORTAL_DEFAULT_MODEL
    models = await models_for_user(caller.user) if caller.user is not None else []
    # None the user may use: the pool's first, and the access check will say so plainly.
    models = models or [
        model
        for view in views
        if view.healthy and view.spec.enabled and not view.spec.draining
        for model in sorted(view.models)
    ]
    if not models:
        raise GatewayError(
            "model_unavailable",
            "No model worker is answering right now. Try again shortly.",
            retryable=True,
        )
    return models[0]


class Router:
    """Routes one request: each call to ``next_worker`` re-reads the snapshot and skips the
    workers this request already tried."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller
        self.model = ""
        # Tokens the per-minute limits took at admission, settled after the answer.
        self.rate_taken = 0
        self.tried: set[str] = set()
        self.last_failure: str | None = None
        # Workers that answered this request with an error of their own, awaiting a verdict.
        self.suspects: list[str] = []
        self.busy_failures = 0  # attempts a full queue refused (503)
        self.failures = 0
        self.deadline = asyncio.get_running_loop().time() + settings.AIPORTAL_REQUEST_DEADLINE
        self._views: list[WorkerView] = []
        self._admission_route: list[WorkerView] | None = None

    async def candidates(self) -> list[WorkerView]:
        self._views = await workers_snapshot()
        request = RouteRequest(
            model=self.model,
            allowed_regions=self.caller.allowed_regions,
            home_region=self.caller.home_region,
            affinity_key=self.caller.conversation_key,
            exclude=frozenset(self.tried),
        )
        ordered = route(
            self._views,
            request,
            policy=settings.AIPORTAL_ROUTING_POLICY,
            stale_after=settings.AIPORTAL_METRICS_STALE_AFTER,
            kv_saturation=settings.AIPORTAL_KV_SATURATION,
        )
        busy = [view for view in ordered if circuit.circuit_is_busy(view.url)]
        if busy:
            # A full queue refuses at once: the workers that just said so go last.
            ordered = [view for view in ordered if view not in busy] + busy
        return ordered

    async def next_worker(self) -> WorkerView | None:
        # The first attempt reuses the route the admission just computed (same snapshot copy).
        candidates, self._admission_route = self._admission_route, None
        for view in candidates if candidates is not None else await self.candidates():
            # The snapshot's circuit state may be 100 ms old; this claims a half-open trial.
            if circuit.circuit_attempt_allowed(view.url):
                self.tried.add(view.url)
                return view
        return None

    async def queue_if_saturated(self) -> bool:
        """Wait in the fair queue while every candidate is saturated; whether it waited."""
        candidates = await self.candidates()
        if not _saturated(candidates):
            self._admission_route = candidates
            return False
        else:
            remaining = self.deadline - asyncio.get_running_loop().time()

            async def has_capacity() -> bool:
                return not _saturated(await self.candidates())

            user_key = str(self.caller.user_id) if self.caller.user_id else "-"
            await fair_queue().wait(
                user_key=user_key,
                has_capacity=has_capacity,
                wait_for=max(0.0, min(settings.AIPORTAL_QUEUE_TIMEOUT, remaining)),
            )
            return True

    def failed(self, view: WorkerView, exc: AttemptFailed, *, partial: bool = False) -> None:
        """An attempt failed: count it against the worker now, or hold it until another
        worker has answered the same request (see the module docstring). Raises
        ``RequestUnprocessable`` when this is the second worker to fail it on its own."""
        self.failures += 1
        self.last_failure = f"{view.spec.name}: {exc.reason}"
        if exc.busy:
            self.busy_failures += 1
            circuit.circuit_mark_busy(view.url)
            logger.info("worker %s is busy: %s", view.spec.name, exc.reason)
            return
        if not exc.answered:
            circuit.circuit_record_failure(view.url)
            logger.warning("worker %s failed: %s", view.spec.name, exc.reason)
            return
        self.suspects.append(view.url)
        if len(self.suspects) > 1:
            logger.warning(
                "worker %s failed the request too (%s): the request is at fault, no circuit "
                "counts it",
                view.spec.name,
                exc.reason,
            )
            self.unjudged_release()
            raise RequestUnprocessable(partial=partial)
        logger.warning("worker %s answered with an error: %s", view.spec.name, exc.reason)

    def succeeded(self, view: WorkerView) -> None:
        """A worker served the request: it is well, and whoever failed it before is not."""
        circuit.circuit_record_success(view.url)
        for url in self.suspects:
            circuit.circuit_record_failure(url)
        self.suspects = []

    def unjudged_release(self) -> None:
        """No verdict for the suspects: their circuits count nothing, and a half-open one's
        trial is free for the next request."""
        for url in self.suspects:
            circuit.circuit_release(url)
        self.suspects = []

    def ended(self, view: WorkerView, exc: BaseException) -> None:
        if isinstance(exc, GatewayError) and exc.status < 500:
            circuit.circuit_record_success(view.url)  # it answered: the request was at fault
        else:
            circuit.circuit_release(view.url)  # no verdict (cancelled, deadline)

    def exhausted(self, *, partial: bool = False) -> GatewayError:
        """The error when no worker is left to try."""
        if partial:
            return UpstreamFailed(
                "The model worker stopped in the middle of the answer, and no other worker "
                "could continue it.",
                partial=True,
            )
        if self.failures and self.busy_failures == self.failures:
            return WorkersBusy(retry_after=settings.AIPORTAL_BUSY_BACKOFF)
        if self.last_failure:
            return UpstreamFailed(f"No worker could serve the request ({self.last_failure}).")
        serving = [view for view in self._views if self.model in view.models]
        allowed = self.caller.allowed_regions
        if serving and allowed is not None:
            return RegionUnavailable(self.model, allowed)
        return ModelUnavailable(self.model)


def _saturated(candidates: list[WorkerView]) -> bool:
    stale_after = settings.AIPORTAL_METRICS_STALE_AFTER
    kv = settings.AIPORTAL_KV_SATURATION
    return bool(candidates) and all(
        circuit.circuit_is_busy(view.url)
        or load_score(view, stale_after=stale_after, kv_saturation=kv) >= 1.0
        for view in candidates
    )
