"""The OpenAI Responses API (``/v1/responses``) through the gateway core.

The same path as a chat completion (gateway/proxy.py): admission (budgets, a concurrent
stream slot), model access, routing, attempts with failover, the usage record. What
differs is the stream's shape and what happens when a worker dies:

- vLLM sends ``response.created`` and ``response.in_progress`` at once, before the engine
  has even scheduled the request (vllm/entrypoints/openai/responses/serving.py). Those two
  are held back until the first event after them (the answer's first output item, or the
  terminal event), so a worker that fails before its first token is left for the next one
  exactly as a chat stream's first frame is: the client never sees the failed attempt, and
  gets the created/in-progress pair of the worker that answers.
- The stream ends with its terminal event (``response.completed``, ``response.incomplete``,
  ``response.failed``); vLLM sends no ``[DONE]``.
- After the first event is out, a dead worker ends the answer: this raises
  ``UpstreamFailed(partial=True)`` and the view ends the stream with ``response.failed``
  (gateway/api/responses.py). Responses streams are not continued on another worker (a
  chat stream is): the events carry item ids and sequence numbers a second worker would
  not share, so a continuation could not be one seamless stream.

Usage: the terminal event's (or the whole answer's) ``usage.input_tokens`` and
``output_tokens`` are recorded as the request's prompt and completion tokens; a stream that
broke off or was stopped before its terminal event counts one completion token per text
delta the client got (a lower bound). The stream carries no per-event token counts, so the
request observes its TTFT (at the first event the client gets) but no inter-token gaps.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings

from gateway.admission_queue import queue_notify
from gateway.attempt import AttemptFailed, attempt_frames
from gateway.callers import Caller
from gateway.dispatch import Router, request_admitted
from gateway.errors import UpstreamFailed
from gateway.inflight import inflight_lease
from gateway.proxy import _account, _count, _outcome, _Report, answer_once
from gateway.rate_limits import prompt_tokens_estimate

PATH = "responses"
PREAMBLE = frozenset({"response.created", "response.in_progress"})
TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


def responses_usage(usage: Any) -> dict[str, int]:
    """A Responses ``usage`` object as the usage record's counts."""
    if not isinstance(usage, dict):
        return {}
    counts = {
        "prompt_tokens": usage.get("input_tokens"),
        "completion_tokens": usage.get("output_tokens"),
    }
    return {
        name: value
        for name, value in counts.items()
        if isinstance(value, int) and not isinstance(value, bool)
    }


def responses_cached_tokens(usage: Any) -> int | None:
    """``usage.input_tokens_details.cached_tokens``: the Responses name of what chat calls
    ``prompt_tokens_details.cached_tokens`` (None when the worker did not say)."""
    details = usage.get("input_tokens_details") if isinstance(usage, dict) else None
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return cached if isinstance(cached, int) and not isinstance(cached, bool) else None


def responses_stream(*, body: dict[str, Any], caller: Caller) -> AsyncIterator[dict[str, Any]]:
    """The worker's Responses events, as it sent them; see the module docstring."""
    return _stream(body=body, report=_Report(caller=caller, model=str(body.get("model") or "")))


async def _stream(*, body: dict[str, Any], report: _Report) -> AsyncIterator[dict[str, Any]]:
    try:
        async with request_admitted(
            caller=report.caller,
            model=body.get("model"),
            prompt_tokens=prompt_tokens_estimate(body),
        ) as router:
            report.rate_taken = router.rate_taken
            report.model = router.model
            body = {**body, "model": router.model, "stream": True}
            events = _attempts(router, body, report=report)
            async with contextlib.aclosing(events):
                async for event in events:
                    yield event
        report.outcome = "complete"
    except BaseException as exc:
        report.outcome = _outcome(exc, started=report.first_at is not None)
        raise
    finally:
        if "completion_tokens" not in report.usage and report.tokens_seen:
            # Broken off or stopped before its usage came: each delta the client got carried
            # at least one token, so the budget counts at least those.
            report.usage = {"completion_tokens": report.tokens_seen}
        queue_notify()
        await _account(report)


async def _attempts(
    router: Router, body: dict[str, Any], *, report: _Report
) -> AsyncIterator[dict[str, Any]]:
    tries = 0
    while True:
        view = await router.next_worker()
        if view is None:
            raise router.exhausted()
        report.attempts, report.worker, tries = report.attempts + 1, view, tries + 1
        held: list[dict[str, Any]] = []  # created / in_progress, until the answer begins
        started = False
        try:
            async with inflight_lease(view.url):
                frames = attempt_frames(view.spec, path=PATH, body=body, deadline=router.deadline)
                async with contextlib.aclosing(frames):
                    async for event in frames:
                        kind = event.get("type")
                        if not started and kind in PREAMBLE:
                            held.append(event)
                            continue
                        if not started:
                            started = True
                            report.frame_sent(0)  # the client's first event: its TTFT
                            for early in held:
                                yield early
                        if kind == "response.output_text.delta":
                            report.tokens_seen += 1
                        if kind in TERMINAL:
                            response = event.get("response")
                            if isinstance(response, dict):
                                report.usage = responses_usage(response.get("usage"))
                                report.cached_tokens = responses_cached_tokens(
                                    response.get("usage")
                                )
                            yield event
                            break  # vLLM ends the body here; no [DONE] follows
                        yield event
                    else:
                        if not started:
                            # A [DONE] with no answer before it: nothing a client could use.
                            reason = "the stream ended before an answer"
                            raise AttemptFailed(reason, before_first=True)
        except AttemptFailed as exc:
            router.failed(view, exc, partial=started)
            if started:
                raise UpstreamFailed(
                    "The model worker stopped in the middle of the answer.", partial=True
                ) from None
            if tries >= settings.AIPORTAL_MAX_ATTEMPTS:
                raise router.exhausted() from None
            report.failovers += 1
            _count("FAILOVERS_TOTAL")
            continue
        except BaseException as exc:
            router.ended(view, exc)
            raise
        router.succeeded(view)
        return


async def responses_once(*, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
    """A non-streaming Responses answer, failing over between workers until one answers."""
    return await answer_once(path=PATH, body=body, caller=caller, usage_of=_responses_counts)


def _responses_counts(answer: dict[str, Any]) -> tuple[dict[str, int], int | None]:
    usage = answer.get("usage")
    return responses_usage(usage), responses_cached_tokens(usage)
