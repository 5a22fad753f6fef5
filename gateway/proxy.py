"""The gateway's entry points: admit a request, route it, stream it, survive a worker's death.

Plain async Python with no Django request inside: the chat (``chat_stream``) and the ``/v1``
API (``completion_stream``, ``completion_once``) call the same code. Each request goes:

caller (policies) → admission (daily budgets, concurrent-stream slot, per-minute limits) →
model access →
``workers_snapshot()`` → ``route()`` (fair queue while every candidate is saturated) →
attempts. Before the first frame a failed attempt moves to the next worker; after it, a
dead stream is continued on another worker from the partial answer (gateway/continuation.py),
so the client gets one whole answer in one stream. docs/gateway/proxy.md has the details.

A caller that stops iterating must close the stream (``contextlib.aclosing``) or cancel its
task: either closes the upstream connection at once, which is what makes vLLM abort.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from django.conf import settings

from common import telemetry
from gateway import metrics, tracing
from gateway.admission import budget_add
from gateway.admission_queue import queue_notify
from gateway.attempt import AttemptFailed, attempt_batches, attempt_once
from gateway.callers import (
    POLICY_ATTEMPTS,
    Caller,
    PolicyChanged,
    PolicyCheck,
    caller_for_user,
    caller_restrict,
    policies_version,
    policies_version_known,
    policies_version_moved,
)
from gateway.continuation import ABORTED, Stitcher, cached_tokens_of
from gateway.continuation_render import as_chat_chunk, completion_body
from gateway.dispatch import Router, request_admitted
from gateway.errors import (
    GatewayError,
    ModelForbidden,
    OverBudget,
    PoliciesChanging,
    RateLimited,
    UpstreamFailed,
    UpstreamRejected,
)
from gateway.inflight import inflight_lease
from gateway.rate_limits import prompt_tokens_estimate, rate_settle
from gateway.request_id import request_id_start
from gateway.sampling import Sampling, sampling_body
from gateway.telemetry.orca import orca_parse, worker_load_update
from gateway.types import WorkerSpec, WorkerView
from gateway.usage import usage_record_later

if TYPE_CHECKING:
    from opentelemetry.trace import Span

logger = logging.getLogger(__name__)

Endpoint = Literal["chat/completions", "completions", "embeddings"]
# Times a broken answer is continued on another worker before the gateway gives up.
MAX_CONTINUATIONS = 2
_REJECTIONS = (RateLimited, OverBudget, ModelForbidden)
# A request turned back before admission because the access rules changed: it is made again
# under the new ones (gateway/api/auth.py), so this attempt is not a request of its own.
SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class Delta:
    text: str


@dataclass(frozen=True, slots=True)
class Thinking:
    """A reasoning model's thinking (vLLM's delta.reasoning): before the answer, never in it."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call the model asked for, assembled from the stream's deltas."""

    id: str
    name: str
    arguments: str  # JSON text as the model wrote it (may be invalid: the caller checks)


@dataclass(frozen=True, slots=True)
class ToolCalls:
    """The answer's tool calls, once its stream ended (just before ``Finished``)."""

    calls: tuple[ToolCall, ...]


class _CallParts:
    """vLLM streams a call as an announcement (id, name, index) and argument fragments
    (gateway/emulator/tool_calls.py): gathered here by index, in the order announced."""

    def __init__(self) -> None:
        self.parts: dict[int, dict[str, Any]] = {}

    def take(self, entries: Any) -> None:
        for entry in entries if isinstance(entries, list) else ():
            if not isinstance(entry, dict):
                continue
            index = entry.get("index")
            index = index if isinstance(index, int) else len(self.parts)
            part = self.parts.setdefault(index, {"id": "", "name": "", "arguments": []})
            if isinstance(entry.get("id"), str) and entry["id"]:
                part["id"] = entry["id"]
            function = entry.get("function") if isinstance(entry.get("function"), dict) else {}
            if isinstance(function.get("name"), str) and function["name"]:
                part["name"] = function["name"]
            if isinstance(function.get("arguments"), str):
                part["arguments"].append(function["arguments"])

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(
                id=part["id"] or f"call-{index}",
                name=part["name"],
                arguments="".join(part["arguments"]),
            )
            for index, part in sorted(self.parts.items())
            if part["name"]
        )


@dataclass(frozen=True, slots=True)
class Finished:
    finish_reason: str | None
    usage: dict[str, Any] = field(default_factory=dict)
    # ttft_ms, generation_ms, worker, region, model, attempts, failovers, continued
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Report:
    """What one request did: for Finished.metrics, the usage record and the metrics."""

    caller: Caller
    model: str = ""
    started: float = field(default_factory=time.monotonic)
    worker: WorkerView | None = None
    attempts: int = 0
    failovers: int = 0
    continued: int = 0
    first_at: float | None = None
    last_at: float | None = None  # when the last frame that brought tokens was sent
    # A stream that broke off and is being continued: since when no token came (the last
    # token's time), and the time all such stalls took. Generation time leaves them out, so
    # the answer's tokens per second is the workers' speed, not the wait for a dead one.
    broke_at: float | None = None
    stalled: float = 0.0
    tokens_seen: int = 0  # completion tokens the client has received, per usage
    outcome: str = "error"
    usage: dict[str, int] = field(default_factory=dict)
    cached_tokens: int | None = None  # usage.prompt_tokens_details.cached_tokens, if given
    stitch: Stitcher | None = None
    rate_taken: int = 0  # tokens the per-minute limits took at admission (gateway/rate_limits)
    endpoint: str = "chat/completions"
    # OpenTelemetry's per-chunk histogram (gateway/tracing.py), read once: off, a frame costs
    # one attribute check more.
    chunk_metrics: bool = field(default_factory=tracing.metrics_on)

    def frame_sent(self, tokens: int) -> None:
        """A frame reached the client, with the answer at ``tokens`` completion tokens.

        vLLM sends several tokens per chunk under load and with --stream-interval, so the
        inter-token histogram is fed per token, not per frame: a frame that brings k tokens
        g seconds after the last one that brought any observes k gaps of g/k (the mean
        spacing, all the client can know). The answer's first token waited for the TTFT,
        not a gap; frames without new tokens (the role delta, the usage chunk) observe none.
        """
        now = time.monotonic()
        if self.first_at is None:
            self.first_at = self.last_at = now
            _observe("TTFT_SECONDS", now - self.started)
        new = tokens - self.tokens_seen
        if new <= 0:
            return
        if self.broke_at is not None:
            self.stalled += now - self.broke_at
            self.broke_at = None
        if self.chunk_metrics and self.tokens_seen:
            tracing.chunk_observe(now - self.last_at, model=self.model)
        gaps = new if self.tokens_seen else new - 1
        if gaps:
            spacing = (now - self.last_at) / new
            observe = metrics.INTER_TOKEN_SECONDS.observe  # runs per token: no lookup by name
            for _ in range(gaps):
                observe(spacing)
        self.tokens_seen, self.last_at = tokens, now

    def broke_off(self) -> None:
        """The stream died after its first token and is continued on another worker."""
        if self.broke_at is None:
            self.broke_at = self.last_at

    @property
    def ttft_ms(self) -> int | None:
        return None if self.first_at is None else round((self.first_at - self.started) * 1000)

    @property
    def generation_ms(self) -> int | None:
        """From the first token to the last, without the stalls of a continued answer."""
        if self.first_at is None or self.last_at is None:
            return None
        return max(0, round((self.last_at - self.first_at - self.stalled) * 1000))

    def metrics(self) -> dict[str, Any]:
        spec = self.worker.spec if self.worker else None
        return {
            "worker": spec.name if spec else None,
            "region": spec.region if spec else None,
            "model": self.model,
            "attempts": self.attempts,
            "failovers": self.failovers,
            "continued": self.continued,
            "ttft_ms": self.ttft_ms if self.ttft_ms is not None else self._elapsed_ms(),
            "generation_ms": self.generation_ms,
        }

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def _elapsed_ms(self) -> int:
        return round((time.monotonic() - self.started) * 1000)


# --- Entry points ---------------------------------------------------------------------------


async def chat_stream(
    *,
    messages: list[dict[str, Any]],
    model: str | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    user: Any = None,
    conversation_key: str | None = None,
    allowed_regions: frozenset[str] | None = None,
    continue_final: bool = False,
    sampling: Sampling | None = None,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: str | None = None,
) -> AsyncIterator[Thinking | Delta | ToolCalls | Finished]:
    """Yield the answer's text as ``Delta``s (a reasoning model's thinking first, as
    ``Thinking``s), then, when ``tools`` were offered and the model called any, one
    ``ToolCalls``, then one ``Finished``. Raises ``GatewayError``
    (``UpstreamFailed(partial=True)`` when the answer broke off and could not be finished).
    ``continue_final`` extends the final assistant message of ``messages`` (the chat's
    "continue") instead of answering after it."""
    body: dict[str, Any] = {
        "messages": messages,
        "max_tokens": min(max_tokens or settings.AIPORTAL_MAX_TOKENS, settings.AIPORTAL_MAX_TOKENS),
        # An assistant's temperature and top_p; ValueError, before anything is sent, when
        # out of range.
        **sampling_body(sampling),
    }
    if model:
        body["model"] = model
    if seed is not None:
        body["seed"] = seed
    if continue_final:
        body["continue_final_message"] = True
        body["add_generation_prompt"] = False
    if tools:
        body["tools"] = tools
        body["tool_choice"] = tool_choice or "auto"
    calls = _CallParts()
    # Resolved under the access version this process last read; admission confirms it in
    # the round trip that takes the stream slot, before anything goes upstream, and a
    # change resolves the caller again (gateway/callers.py).
    request_id_start()  # one id per answer, for its attempts, usage record and logs
    version = policies_version_known() or await policies_version()
    for _ in range(POLICY_ATTEMPTS):
        check = PolicyCheck(version)
        caller = await caller_for_user(user, conversation_key=conversation_key, policy_check=check)
        report = _Report(caller=caller_restrict(caller, allowed_regions))
        batches = _stream(endpoint="chat/completions", body=body, report=report)
        try:
            async with contextlib.aclosing(batches):
                async for batch in batches:
                    for frame in batch:
                        for choice in frame.get("choices") or ():
                            delta = choice.get("delta") or {}
                            if thought := delta.get("reasoning") or delta.get("reasoning_content"):
                                yield Thinking(thought)
                            if text := delta.get("content"):
                                yield Delta(text)
                            if delta.get("tool_calls"):
                                calls.take(delta["tool_calls"])
        except PolicyChanged as changed:
            version = changed.version  # raised at admission: nothing was yielded yet
            continue
        except GatewayError:
            # A refusal before admission confirmed the version (a budget, under limits
            # that may have just been raised) stands only if the version is still current.
            moved = None if check.confirmed else await policies_version_moved(version)
            if moved is None:
                raise
            version = moved
            continue
        break
    else:
        raise PoliciesChanging()
    if called := calls.calls():
        yield ToolCalls(called)
    stitch = report.stitch
    yield Finished(
        finish_reason=stitch.finish_reason if stitch else None,
        usage=report.usage,
        metrics=report.metrics(),
    )


async def completion_stream(
    *, endpoint: Endpoint, body: dict[str, Any], caller: Caller
) -> AsyncIterator[dict[str, Any]]:
    """OpenAI chunk objects, as the workers send them, continuations stitched in (one id,
    one role delta, usage of the whole answer when the body asked for it)."""
    batches = completion_batches(endpoint=endpoint, body=body, caller=caller)
    async with contextlib.aclosing(batches):
        async for batch in batches:
            for frame in batch:
                yield frame


def completion_batches(
    *, endpoint: Endpoint, body: dict[str, Any], caller: Caller
) -> AsyncIterator[list[dict[str, Any]]]:
    """``completion_stream``, the chunks that arrived together in one list (never empty),
    for a relay that writes them in one go (``/v1``): one step per read through the layers
    and one write to the client, not one per chunk."""
    report = _Report(caller=caller, model=str(body.get("model") or ""))
    return _stream(endpoint=endpoint, body=body, report=report)


async def completion_once(*, endpoint: Endpoint, body: dict[str, Any], caller: Caller) -> dict:
    """A non-streaming answer (chat, completions or embeddings), failing over between
    workers until one answers; nothing reached the client before, so no continuation."""
    body = {key: value for key, value in body.items() if key != "stream_options"}
    return await answer_once(path=endpoint, body=body, caller=caller, usage_of=_usage_counts)


def _usage_counts(answer: dict[str, Any]) -> tuple[dict[str, int], int | None]:
    usage = answer.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return {k: v for k, v in usage.items() if isinstance(v, int)}, cached_tokens_of(usage)


async def answer_once(
    *,
    path: str,
    body: dict[str, Any],
    caller: Caller,
    usage_of: Callable[[dict[str, Any]], tuple[dict[str, int], int | None]],
) -> dict[str, Any]:
    """One non-streaming answer from ``path`` (any endpoint, /v1/responses included) with
    admission, routing, failover between workers and the usage record; ``usage_of`` reads
    the answer's token counts and cached prompt tokens."""
    # The model asked for, until admission names the one used: a refusal's record says it.
    report = _Report(caller=caller, model=str(body.get("model") or ""), endpoint=path)
    body = {**body, "stream": False}
    span = tracing.request_span(endpoint=path, body=body, caller=caller)
    answer = None
    try:
        async with request_admitted(
            caller=caller,
            model=body.get("model"),
            prompt_tokens=prompt_tokens_estimate(body),
            trace=span,
        ) as router:
            report.rate_taken = router.rate_taken
            body["model"] = report.model = router.model
            tracing.request_span_model(span, endpoint=path, model=router.model)
            tries = 0
            while True:
                view = await _next_worker(router, span, attempt=report.attempts + 1)
                if view is None:
                    raise router.exhausted()
                report.attempts, report.worker, tries = report.attempts + 1, view, tries + 1
                attempt = tracing.attempt_span(span, view=view, path=path, attempt=report.attempts)
                try:
                    async with inflight_lease(view.url):
                        answer = await attempt_once(
                            view.spec,
                            path=path,
                            body=body,
                            deadline=router.deadline,
                            trace_headers=telemetry.trace_headers(attempt),
                        )
                        if _aborted(answer.body):
                            # The engine gave up on it; nothing reached the client yet.
                            raise AttemptFailed("the engine aborted the answer", before_first=True)
                except AttemptFailed as exc:
                    telemetry.span_end(attempt, error=exc)
                    router.failed(view, exc)  # raises when the request is at fault
                    if tries >= settings.AIPORTAL_MAX_ATTEMPTS:
                        raise router.exhausted() from None
                    report.failovers += 1
                    _count("FAILOVERS_TOTAL")
                    continue
                except BaseException as exc:
                    telemetry.span_end(attempt, error=exc)
                    router.ended(view, exc)
                    raise
                telemetry.span_end(attempt)
                router.succeeded(view)
                await _orca_report(view, answer.headers)
                report.usage, report.cached_tokens = usage_of(answer.body)
                report.outcome = "complete"
                return answer.body
    except BaseException as exc:
        report.outcome = _outcome(exc, started=False)
        tracing.request_span_end(span, report=report, error=exc)
        span = None
        raise
    finally:
        tracing.request_span_end(span, report=report, error=None, answer=answer and answer.body)
        queue_notify()
        await _account(report)


async def _next_worker(router: Router, span: Span | None, *, attempt: int) -> WorkerView | None:
    """The router's next worker, in a ``gateway.route`` span when tracing is on."""
    if span is None:
        return await router.next_worker()
    route = tracing.route_span(span, policy=settings.AIPORTAL_ROUTING_POLICY, attempt=attempt)
    try:
        view = await router.next_worker()
    except BaseException as exc:
        telemetry.span_end(route, error=exc)
        raise
    tracing.route_span_end(route, view)
    return view


# --- The streaming core ---------------------------------------------------------------------


async def _stream(
    *, endpoint: str, body: dict[str, Any], report: _Report
) -> AsyncIterator[list[dict[str, Any]]]:
    report.endpoint = endpoint
    # Started, never made current: this is a generator (common/telemetry.py says why).
    span = tracing.request_span(endpoint=endpoint, body=body, caller=report.caller)
    error: BaseException | None = None
    try:
        async with request_admitted(
            caller=report.caller,
            model=body.get("model"),
            prompt_tokens=prompt_tokens_estimate(body),
            trace=span,
        ) as router:
            report.rate_taken = router.rate_taken
            report.model = router.model
            tracing.request_span_model(span, endpoint=endpoint, model=router.model)
            stitch = report.stitch = Stitcher(
                endpoint=endpoint, body={**body, "model": report.model}
            )
            attempts = _attempts(router, stitch, endpoint=endpoint, report=report, span=span)
            async with contextlib.aclosing(attempts):
                async for batch in attempts:
                    yield batch
        report.outcome = "complete"
    except BaseException as exc:
        error = exc
        report.outcome = _outcome(exc, started=bool(report.stitch and report.stitch.started))
        raise
    finally:
        if report.stitch is not None:
            report.usage = report.stitch.usage()
            report.cached_tokens = report.stitch.cached_tokens
        tracing.request_span_end(span, report=report, error=error)
        queue_notify()
        await _account(report)


async def _attempts(
    router: Router, stitch: Stitcher, *, endpoint: str, report: _Report, span: Span | None = None
) -> AsyncIterator[list[dict[str, Any]]]:
    tries = 0  # attempts for the current part of the answer
    # A /v1/completions body that continues a chat on the worker that refused to continue
    # it (gateway/continuation_render.py): the next attempt is that, on the same worker.
    rendered: dict[str, Any] | None = None
    view: WorkerView | None = None
    while True:
        path = endpoint
        if rendered is not None:
            body, path, rendered = rendered, "completions", None
        else:
            body = stitch.body if not stitch.part else stitch.next_body()
            if body is None:
                raise UpstreamFailed(
                    "The model worker stopped in the middle of the answer, and this answer "
                    "cannot be continued elsewhere.",
                    partial=True,
                )
            view = await _next_worker(router, span, attempt=report.attempts + 1)
            if view is None:
                raise router.exhausted(partial=stitch.started)
        assert view is not None
        report.attempts, report.worker, tries = report.attempts + 1, view, tries + 1
        attempt = tracing.attempt_span(span, view=view, path=path, attempt=report.attempts)
        try:
            async with inflight_lease(view.url):
                batches = attempt_batches(
                    view.spec,
                    path=path,
                    body=body,
                    deadline=router.deadline,
                    trace_headers=telemetry.trace_headers(attempt),
                )
                async with contextlib.aclosing(batches):
                    async for batch in batches:
                        outs = []
                        for frame in batch:
                            if path != endpoint:
                                frame = as_chat_chunk(frame)
                            out = stitch.take(frame)
                            if out is not None:
                                # Count by usage, not frames: upstream chunks carry usage.
                                report.frame_sent(stitch.completion_tokens)
                                outs.append(out)
                        if outs:
                            yield outs
                if stitch.aborted:
                    # A well-formed end that is not the answer's: continued as a dead stream.
                    raise AttemptFailed("the engine aborted the answer", before_first=False)
        except AttemptFailed as exc:
            telemetry.span_end(attempt, error=exc)
            # Raises when the request is at fault (a second worker failed it on its own).
            router.failed(view, exc, partial=stitch.started)
            if not exc.before_first and stitch.started:
                # The stream broke after the client got part of the answer: continue it.
                if stitch.finish_reason is not None:
                    if closing := stitch.closing_frames(stitch.finish_reason):
                        yield closing
                    return  # every token had arrived; only the end was lost
                stitch.part_end()
                remaining = stitch.remaining_tokens()
                if remaining is not None and remaining <= 0:
                    if closing := stitch.closing_frames("length"):
                        yield closing
                    return
                if report.continued >= MAX_CONTINUATIONS:
                    raise UpstreamFailed(
                        "The answer broke off too many times.", partial=True
                    ) from None
                report.continued += 1
                report.broke_off()
                _count("CONTINUATIONS_TOTAL")
                tries = 0
                continue
            if tries >= settings.AIPORTAL_MAX_ATTEMPTS:
                raise router.exhausted(partial=stitch.started) from None
            report.failovers += 1
            _count("FAILOVERS_TOTAL")
            continue
        except BaseException as exc:
            telemetry.span_end(attempt, error=exc)
            router.ended(view, exc)
            if stitch.part and isinstance(exc, GatewayError) and exc.status < 500:
                rejected = isinstance(exc, UpstreamRejected) and path == endpoint
                if rejected and stitch.chat and stitch.renderable:
                    # Its chat template refuses continue_final_message: continue through
                    # the worker's own rendering of the chat, where it offers one.
                    rendered = await completion_body(
                        view.spec, chat=body, answer=stitch.final_text, deadline=router.deadline
                    )
                    if rendered is not None:
                        stitch.read_whole()
                        continue
                # A worker refused to continue (4xx): the answer stays partial. A rejection
                # of the first part (an error frame's 4xx) goes to the caller as it is.
                raise UpstreamFailed(
                    f"Another worker could not continue the answer: {exc.detail}", partial=True
                ) from None
            raise
        telemetry.span_end(attempt)
        router.succeeded(view)
        return


def _aborted(answer: dict[str, Any]) -> bool:
    choices = answer.get("choices")
    return isinstance(choices, list) and any(
        isinstance(choice, dict) and choice.get("finish_reason") in ABORTED for choice in choices
    )


# --- Bookkeeping ----------------------------------------------------------------------------


async def _orca_report(view: WorkerView, headers: Mapping[str, str]) -> None:
    header = headers.get("endpoint-load-metrics")
    if not header:
        return
    try:
        await worker_load_update(view.url, orca_parse(header))
    except Exception:  # load advice must never fail an answer
        logger.warning("could not record %s's load report", view.spec.name, exc_info=True)


def _outcome(exc: BaseException, *, started: bool) -> str:
    if isinstance(exc, PolicyChanged):
        return SUPERSEDED
    if isinstance(exc, (GeneratorExit, asyncio.CancelledError)):
        return "stopped"
    if isinstance(exc, _REJECTIONS):
        return "rejected"
    return "interrupted" if started else "error"


async def _account(report: _Report) -> None:
    """Count the tokens against the budgets, the request in the metrics, write the usage
    record. Bookkeeping never fails a request: errors are logged."""
    if report.outcome == SUPERSEDED:
        return
    usage = report.usage
    caller = report.caller
    tokens = int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
    try:
        await budget_add(caller, tokens)
        if caller.limits is not None:
            await rate_settle(caller, caller.limits, tokens=tokens, taken=report.rate_taken)
    except Exception:
        logger.warning("could not count %s tokens against the budgets", tokens, exc_info=True)
    _count("REQUESTS_TOTAL", model=report.model or "-", outcome=report.outcome)
    tracing.request_metrics(report=report, endpoint=report.endpoint)
    completion = int(usage.get("completion_tokens", 0))
    if completion > 0:
        metrics.COMPLETION_TOKENS_TOTAL.labels(model=report.model or "-").inc(completion)
    spec = report.worker.spec if report.worker else None
    _count_cached(report, spec, int(usage.get("prompt_tokens", 0)))
    if caller.user_id is None and caller.usage_source is None:
        # An internal request with no user (a test, a management command) is not recorded,
        # unless it says what it is: the embeddings of a dataset refill are (gateway/
        # embeddings.py), under no user, so the pool's usage shows them.
        return
    fields = {
        "user_id": caller.user_id,
        "api_key_id": caller.api_key_id,
        "source": caller.usage_source,
        "model": report.model,
        "worker": spec.name if spec else "",
        "region": spec.region if spec else "",
        "prompt_tokens": usage.get("prompt_tokens", 0),
        "completion_tokens": usage.get("completion_tokens", 0),
        "ttft_ms": report.ttft_ms,
        "duration_ms": report._elapsed_ms(),
        "outcome": report.outcome,
        "failovers": report.failovers,
        "continued": report.continued,
        "cached_tokens": report.cached_tokens,
    }
    # Its own task: a stopped stream's cleanup must not wait on the database.
    usage_record_later(**fields)


def _count_cached(report: _Report, spec: WorkerSpec | None, prompt: int) -> None:
    """The worker's prompt tokens and prefix-cache hits, for a hit rate per worker in
    /metrics: only answers that said how many were cached, and not continued ones (their
    cached tokens are the first worker's, the record names the last)."""
    if spec is None or report.cached_tokens is None or report.continued or prompt <= 0:
        return
    labels = {"worker": spec.name, "region": spec.region}
    metrics.WORKER_PROMPT_TOKENS.labels(**labels).inc(prompt)
    metrics.WORKER_CACHED_PROMPT_TOKENS.labels(**labels).inc(min(report.cached_tokens, prompt))


def _count(name: str, **labels: str) -> None:
    metric = getattr(metrics, name)
    (metric.labels(**labels) if labels else metric).inc()


def _observe(name: str, value: float) -> None:
    getattr(metrics, name).observe(value)
