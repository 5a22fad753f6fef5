"""One request to one worker: open it, read its SSE frames as they come, judge how it ended.

``attempt_frames`` yields each upstream JSON frame as soon as its SSE event is complete (no
buffering beyond one event; keep-alive comments are skipped by the parser; ``attempt_batches``
yields the frames of each read together, for the relay) and raises:

- ``AttemptFailed`` for what another worker may not suffer: connect error, 5xx, no first
  frame within ``AIPORTAL_FIRST_TOKEN_TIMEOUT``, no frame within ``AIPORTAL_IDLE_TIMEOUT``
  (keep-alive comments do not count: a worker that sends only those is not generating),
  an error frame of 5xx (or without a code), a body that ends without ``[DONE]``.
  ``before_first`` says whether any frame came before it; ``answered`` whether the worker
  itself answered with the error (a 500, an error frame), which may be the request's fault
  (see ``AttemptFailed``); ``busy`` whether it was a 503, vLLM's "my queue is full"
  (another worker may take the request, and the worker is not broken).
- ``UpstreamRejected`` for a 4xx, as the status or as an error frame's code: the request's
  fault, the same everywhere.
- ``DeadlineExceeded`` when the request's overall deadline passes.

Closing the generator (or cancelling its task) closes the upstream connection at once, which
makes vLLM abort the request.

Upstream requests go through gateway/http.py's ``upstream_session`` (aiohttp; why not httpx
is said there).

State: ``_draining``, the tasks reading a finished answer's last bytes, held so they are not
collected before they end; never reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from django.conf import settings

from gateway.errors import DeadlineExceeded, UpstreamRejected
from gateway.http import ConnectionReuse, upstream_session
from gateway.request_id import HEADER as REQUEST_ID_HEADER
from gateway.request_id import request_id_current
from gateway.sse import SSEDataParser
from gateway.types import WorkerSpec


class AttemptFailed(Exception):
    """``answered``: the worker was reached and answered this request with an error of its
    own (a 500, an error frame). That may be the request's fault as much as the worker's,
    which only another worker's answer to the same request can tell (gateway/dispatch.py).
    ``busy``: a 503, which vLLM 0.34 answers when admitting the request would overflow its
    queue (``--max-num-queued-reqs``/``--max-num-queued-tokens``, vllm/exceptions.py
    ``QueueOverflowError``): nobody's fault, the worker is only full for now.
    Everything else (unreachable, 502/504, a timeout, a broken or malformed stream) is the
    worker's."""

    def __init__(
        self, reason: str, *, before_first: bool, answered: bool = False, busy: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.before_first = before_first
        self.answered = answered
        self.busy = busy


@dataclass(frozen=True, slots=True)
class Answer:
    """A non-streaming answer, read whole."""

    body: dict[str, Any]
    headers: Mapping[str, str]  # case-insensitive, as aiohttp gives them


def request_headers(spec: WorkerSpec) -> dict[str, str]:
    # The ORCA load report: vLLM attaches it to non-streaming answers only, asking costs
    # nothing on streams.
    headers = {"endpoint-load-metrics-format": "text"}
    # The same id on every attempt, failovers and continuations included: vLLM names its
    # request after it (serve/engine/serving.py) and echoes it (gateway/request_id.py).
    if request_id := request_id_current():
        headers[REQUEST_ID_HEADER] = request_id
    if spec.api_key:
        headers["Authorization"] = f"Bearer {spec.api_key}"
    return headers


def error_message(text: str) -> str:
    """vLLM's error body: ``{"error": {"message": …}}`` since 0.10.1, flat
    ``{"object": "error", "message": …}`` before, FastAPI's ``{"detail": …}`` for routing."""
    try:
        body = json.loads(text)
    except ValueError:
        return text[:500]
    if isinstance(body, dict):
        nested = body.get("error")
        if isinstance(nested, dict) and nested.get("message"):
            return str(nested["message"])[:500]
        for key in ("message", "detail"):
            if body.get(key):
                return str(body[key])[:500]
    return text[:500]


def _frame_error(frame: dict[str, Any]) -> str:
    error = frame.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or "unknown error")
    return str(error)


def _frame_rejection(frame: dict[str, Any]) -> UpstreamRejected | None:
    """An error frame with a 4xx code: vLLM rejecting this request while streaming it (its
    stream generators turn an exception into ``{"error": {"message", "type", "param",
    "code"}}`` then ``[DONE]``, vllm/entrypoints/openai/chat_completion/serving.py; a
    ValueError or a validation error is a 400). The request's fault, the same on every
    worker: relayed to the caller, not failed over and not counted against the worker."""
    error = frame.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(code, bool) or not isinstance(code, int) or not 400 <= code < 500:
        return None
    return UpstreamRejected(_frame_error(frame)[:500], status=code)


async def _open(
    spec: WorkerSpec,
    path: str,
    body: dict[str, Any],
    bound: float,
    deadline: float,
    trace_headers: Mapping[str, str] | None = None,
) -> aiohttp.ClientResponse:
    """POST and wait for the status line; 5xx and connection errors fail the attempt, a 4xx
    rejects the request."""
    try:
        async with asyncio.timeout_at(bound):
            response = await _post(spec, path, body, trace_headers)
            if response.status >= 400:
                text = await response.text(errors="replace")
    except TimeoutError:
        raise _timeout_error(bound, deadline, before_first=True) from None
    except aiohttp.ClientError as exc:
        raise AttemptFailed(f"unreachable ({type(exc).__name__})", before_first=True) from None
    if response.status == 503:
        response.close()
        # vLLM's admission control: its queue is full. Busy, not broken (gateway/dispatch.py).
        reason = f"HTTP 503, busy ({error_message(text)[:120]})"
        raise AttemptFailed(reason, before_first=True, busy=True)
    if response.status >= 500:
        response.close()
        # 502 and 504 come from a proxy in front of a worker it cannot reach: the worker's
        # state, whatever was asked.
        answered = response.status not in (502, 504)
        raise AttemptFailed(f"HTTP {response.status}", before_first=True, answered=answered)
    if response.status >= 400:
        response.release()
        raise UpstreamRejected(error_message(text), status=response.status)
    return response


# What aiohttp raises when the connection it sent on was already closed by the worker. Not
# ClientConnectorError (a subclass of ClientOSError): that is a new connection refused.
_STALE = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


async def _post(
    spec: WorkerSpec,
    path: str,
    body: dict[str, Any],
    trace_headers: Mapping[str, str] | None = None,
) -> aiohttp.ClientResponse:
    """POST once more, on a new connection, when a pooled one turns out closed before any
    byte of the answer came back. The worker closed it while idle (vLLM after 5 s), so it
    never saw the request: sending it again is safe, and it is no failure of the worker's,
    neither a failed attempt nor a circuit strike (gateway/http.py)."""
    url, headers = f"{spec.url}/v1/{path}", request_headers(spec)
    headers["Content-Type"] = "application/json"
    if trace_headers:
        # traceparent: the attempt's span is the parent of the worker's own (vLLM reads it).
        headers.update(trace_headers)
    data = _body_bytes(body)
    reuse = ConnectionReuse()
    try:
        return await upstream_session().post(
            url, data=data, headers=headers, allow_redirects=False, trace_request_ctx=reuse
        )
    except _STALE as exc:
        if not reuse.reused or isinstance(exc, aiohttp.ClientConnectorError):
            raise
    # The loop has seen the close by now, and with it any other connection the worker closed
    # at the same moment, so the pool hands out a live or a new one.
    return await upstream_session().post(url, data=data, headers=headers, allow_redirects=False)


def _body_bytes(body: dict[str, Any]) -> bytes:
    """The request as JSON. orjson, not aiohttp's ``json=`` (the standard library's encoder,
    which showed per request in the gateway benchmark); json for what orjson refuses (an
    integer wider than 64 bits, which a client may send and the worker should judge)."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body).encode()


async def attempt_frames(
    spec: WorkerSpec, *, path: str, body: dict[str, Any], deadline: float
) -> AsyncIterator[dict[str, Any]]:
    """The JSON frames of one streamed request to ``spec``; see the module docstring."""
    batches = attempt_batches(spec, path=path, body=body, deadline=deadline)
    async with contextlib.aclosing(batches):
        async for batch in batches:
            for frame in batch:
                yield frame


async def attempt_batches(
    spec: WorkerSpec,
    *,
    path: str,
    body: dict[str, Any],
    deadline: float,
    trace_headers: Mapping[str, str] | None = None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """``attempt_frames``, the frames that arrived together in one list (never empty): the
    relay passes each list through its layers and to the client in one write, where frame
    by frame cost a generator step per layer and a write each (vLLM sends several at once
    under load, and an answer's last frames come together). What fails after some frames
    of a read raises once those were handed out."""
    loop = asyncio.get_running_loop()
    bound = min(deadline, loop.time() + settings.AIPORTAL_FIRST_TOKEN_TIMEOUT)
    response = await _open(spec, path, body, bound, deadline, trace_headers)
    finished = False
    watch = ReadWatch(loop)
    idle_timeout = settings.AIPORTAL_IDLE_TIMEOUT  # read once: a settings lookup per token shows
    try:
        parser = SSEDataParser()
        chunks = response.content.iter_any()
        first = True
        while True:
            watch.arm(bound)
            try:
                chunk = await anext(chunks)
            except asyncio.CancelledError:
                if not watch.timed_out():
                    raise
                raise _timeout_error(bound, deadline, before_first=first) from None
            except StopAsyncIteration:
                raise AttemptFailed("the stream ended early", before_first=first) from None
            except aiohttp.ClientError as exc:
                reason = f"the connection broke ({type(exc).__name__})"
                raise AttemptFailed(reason, before_first=first) from None
            finally:
                watch.pause()
            batch: list[dict[str, Any]] = []
            failure: Exception | None = None
            for data in parser.feed(chunk):
                if data == b"[DONE]":
                    finished = True
                    break
                frame = _frame_parse(data)
                if frame is None:
                    failure = AttemptFailed("a malformed frame", before_first=first)
                    break
                if "error" in frame:
                    failure = _frame_rejection(frame) or AttemptFailed(
                        f"error: {_frame_error(frame)}", before_first=first, answered=True
                    )
                    break
                first = False
                batch.append(frame)
            if batch:
                yield batch
            if finished:
                return
            if failure is not None:
                raise failure
            if batch:
                bound = min(deadline, loop.time() + idle_timeout)
    finally:
        watch.stop()
        if finished:
            _release_later(response)
        else:
            response.close()  # the connection goes: vLLM aborts the request


def _frame_parse(data: bytes) -> dict[str, Any] | None:
    """An event's JSON object, or None. Bytes that are not UTF-8 are read as a decoder with
    ``errors="replace"`` would (what the stream's text parser did before it read bytes)."""
    try:
        frame = orjson.loads(data)
    except ValueError:  # orjson.JSONDecodeError is one
        try:
            frame = orjson.loads(data.decode("utf-8", errors="replace"))
        except ValueError:
            return None
    return frame if isinstance(frame, dict) else None


class ReadWatch:
    """The first-frame and idle timeouts of one stream, as one timer for its whole life.

    An ``asyncio.timeout`` per chunk (a context, a timer scheduled and cancelled, for every
    token) was about 5% of the web process's loop at 64 streams. Here each read only records
    its bound (``arm``) and that it ended (``pause``); the timer fires at the bound and
    either moves itself to the newer bound or, when the read is still waiting past it,
    cancels the reading task, which ``timed_out`` then tells from any other cancellation.
    Time spent between reads (the frames going downstream) is never counted."""

    __slots__ = ("_bound", "_fired", "_loop", "_task", "_timer", "_waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._bound = 0.0
        self._waiting = False
        self._task: asyncio.Task | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._fired = False

    def arm(self, bound: float) -> None:
        self._bound, self._waiting = bound, True
        self._task = asyncio.current_task()
        if self._timer is not None and self._timer.when() > bound:
            self._timer.cancel()  # a sooner bound than the timer's: move it
            self._timer = None
        if self._timer is None:
            self._timer = self._loop.call_at(bound, self._fire)

    def pause(self) -> None:
        self._waiting = False

    def stop(self) -> None:
        self._waiting = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def timed_out(self) -> bool:
        """Whether the cancellation being handled is this watch's (and only this watch's:
        a client leaving at the same moment wins). Takes it back if so."""
        if not self._fired or self._task is None or self._task.cancelling() != 1:
            return False
        self._fired = False
        self._task.uncancel()
        return True

    def _fire(self) -> None:
        self._timer = None
        if not self._waiting:
            return  # between reads; the next arm sets a timer again
        if self._loop.time() < self._bound:
            self._timer = self._loop.call_at(self._bound, self._fire)
            return
        self._fired = True
        self._task.cancel()


_draining: set[asyncio.Task[None]] = set()


def _release_later(response: aiohttp.ClientResponse) -> None:
    """After ``[DONE]`` only the chunked body's terminator is left: read it in the background
    (the client need not wait for it) so the connection goes back to the pool."""
    if response.content.at_eof():
        response.release()
        return

    async def drain() -> None:
        try:
            async with asyncio.timeout(5):
                await response.read()
        except (TimeoutError, aiohttp.ClientError):
            response.close()
        else:
            response.release()

    task = asyncio.get_running_loop().create_task(drain())
    _draining.add(task)
    task.add_done_callback(_draining.discard)


def _timeout_error(bound: float, deadline: float, *, before_first: bool) -> Exception:
    if bound >= deadline:
        return DeadlineExceeded()
    reason = "no first frame in time" if before_first else "no frame within the idle timeout"
    return AttemptFailed(reason, before_first=before_first)


async def attempt_once(
    spec: WorkerSpec,
    *,
    path: str,
    body: dict[str, Any],
    deadline: float,
    trace_headers: Mapping[str, str] | None = None,
) -> Answer:
    """One non-streaming request, the whole answer read. Raises like ``attempt_frames``; the
    bound is the deadline alone, since a whole answer takes as long as it takes."""
    response = await _open(spec, path, body, deadline, deadline, trace_headers)
    try:
        async with asyncio.timeout_at(deadline):
            raw = await response.read()
    except TimeoutError:
        response.close()
        raise DeadlineExceeded() from None
    except aiohttp.ClientError as exc:
        response.close()
        raise AttemptFailed(f"failed ({type(exc).__name__})", before_first=True) from None
    response.release()
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise AttemptFailed("a malformed answer", before_first=True)
    return Answer(body=answer, headers=response.headers)
