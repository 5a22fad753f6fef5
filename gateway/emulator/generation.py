"""One generation request, from admission to the last byte, streaming or not.

The client can vanish at any await: aiohttp cancels the handler when the emulator runs with
``handler_cancellation`` (as ``__main__`` and ``running_emulator`` do), and every wait here
also polls the transport, so an app mounted by some other runner still notices. Either way
the ``finally`` in ``run`` closes the ticket as an abort, which is what vLLM does when its
client goes away.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Awaitable
from typing import Any, TypeVar

from aiohttp import web

from .cache_usage import Frame, with_details
from .config import EmulatorConfig
from .decode import EOS
from .engine import Engine, Outcome, Ticket
from .faults import FaultSpec
from .lora import LoraStates
from .metrics import engine_split
from .protocol import (
    CONTINUATION_REFUSED,
    GenerationRequest,
    chunk,
    error_body,
    full_response,
    stream_error_body,
    usage,
    usage_chunk,
)
from .reasoning import END_OF_THINKING, compose_reasoning, phased_decode, with_reasoning_tokens
from .text import VARIANTS, answer_seed, compose_answer, variant_of
from .tokens import tokenize
from .tool_calls import ToolPlan, plan_tool_calls

POLL_SECONDS = 0.05
T = TypeVar("T")


class ClientGone(Exception):
    """The client closed its connection."""


def client_gone(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def pause(request: web.BaseRequest, seconds: float) -> None:
    """Sleep, but give up as soon as the client has gone; ``math.inf`` waits for that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        if client_gone(request):
            raise ClientGone
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        await asyncio.sleep(min(remaining, POLL_SECONDS))


async def guarded(request: web.BaseRequest, awaitable: Awaitable[T]) -> T:
    """Await something that may take long (a slot in the batch) unless the client leaves."""
    task = asyncio.ensure_future(awaitable)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=POLL_SECONDS)
            if done:
                return task.result()
            if client_gone(request):
                raise ClientGone
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def orca_headers(request: web.BaseRequest, engine: Engine) -> dict[str, str]:
    """vLLM's ORCA load report, when the client asks for one with
    ``endpoint-load-metrics-format: text`` (or ``json``). vLLM writes exactly these two named
    metrics, as Python floats: ``TEXT named_metrics.kv_cache_usage_perc=0.25,
    named_metrics.num_requests_waiting=2.0``; ``JSON {"named_metrics": {...}}``."""
    fmt = request.headers.get("endpoint-load-metrics-format", "").strip().lower()
    if fmt not in ("text", "json"):
        return {}
    # One entry per engine and gauge, in the order vLLM registers its gauges (waiting before
    # KV use); JSON, a dict, keeps the last engine's (vllm/entrypoints/serve/utils/orca_metrics.py).
    # Without stat loggers (--disable-log-stats) the snapshot has no gauges: "TEXT ".
    engines = engine_split(engine.gauges(), engine.config.data_parallel_size)
    if engine.config.disable_log_stats:
        engines = []
    pairs = [("num_requests_waiting", float(e.waiting)) for e in engines]
    pairs += [("kv_cache_usage_perc", float(e.kv_cache_usage)) for e in engines]
    if fmt == "text":
        value = "TEXT " + ", ".join(f"named_metrics.{k}={v}" for k, v in pairs)
    else:
        value = "JSON " + json.dumps({"named_metrics": dict(pairs)})
    return {"endpoint-load-metrics": value}


def plan_pieces(request: GenerationRequest, config: EmulatorConfig) -> list[str]:
    """The tokens this request will generate, ending with EOS.

    With a partial answer to continue, the answer for the conversation *before* the partial
    is composed and the partial's length skipped, so partial + continuation is exactly the
    uninterrupted answer: without a seed, the variant whose answer starts with the partial
    (text.variant_of names the likely one). A partial that is not a prefix of any (written
    by someone else) is followed by the answer composed for the prompt that includes it.
    """

    def answer_for(basis: str, variant: int) -> str:
        return compose_answer(
            prompt=basis, seed=request.seed, target_tokens=config.answer_tokens, variant=variant
        )

    if request.choice:
        # Constrained to a choice: one of them, by the seed, like a sampled pick.
        pick = request.choice[(request.seed or 0) % len(request.choice)]
        return [*tokenize(pick), EOS]
    basis = request.answer_basis
    if request.seed is not None:
        variants = [0]
    elif config.unseeded_answers == "fixed":
        variants = [answer_seed(seed=None, prompt=basis) % VARIANTS]
    elif not request.partial:
        variants = [random.randrange(VARIANTS)]
    else:
        likely = variant_of(request.partial)
        variants = [v for v in [likely, *range(VARIANTS)] if v is not None]
        variants = list(dict.fromkeys(variants))
    if not request.partial:
        return [*tokenize(answer_for(basis, variants[0])), EOS]
    for variant in variants:
        whole = answer_for(basis, variant)
        if whole.startswith(request.partial):
            return [*tokenize(whole[len(request.partial) :]), EOS]
    other = answer_for(request.prompt, variants[0])
    rest = ("" if request.partial[-1:].isspace() else "\n\n") + other
    return [*tokenize(rest), EOS]


def plan_tools(request: GenerationRequest, config: EmulatorConfig) -> ToolPlan | None:
    """The tool calls this chat answer makes instead of text, if any (tool_calls.py)."""
    if request.kind != "chat" or request.partial or request.choice:
        return None
    return plan_tool_calls(
        tools=request.tools,
        tool_choice=request.tool_choice,
        prompt=request.answer_basis,
        parallel=request.parallel_tool_calls,
        auto_enabled=config.enable_auto_tool_choice and config.tool_call_parser is not None,
    )


def plan_thought(request: GenerationRequest, config: EmulatorConfig) -> list[str]:
    """A reasoning model's thinking tokens before the answer, ending with the token that
    closes it; none for a model that does not think (gateway/emulator/reasoning.py)."""
    if not request.thinks:
        return []
    text = compose_reasoning(
        prompt=request.answer_basis,
        question=request.question,
        seed=request.seed,
        target_tokens=config.reasoning_tokens,
    )
    return [*tokenize(text), END_OF_THINKING]


def _frame(data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()


def _json_response(data: dict[str, Any], status: int = 200) -> web.Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, content_type="application/json")


# vLLM's error types by status (vllm/entrypoints/serve/exception_handling/error_response.py).
_ERROR_TYPES = {400: "BadRequestError", 404: "NotFoundError", 422: "UnprocessableEntityError"}


class Generation:
    def __init__(
        self,
        *,
        http_request: web.Request,
        engine: Engine,
        config: EmulatorConfig,
        request: GenerationRequest,
        max_tokens: int,
        fault: FaultSpec,
        lora: LoraStates | None = None,
    ) -> None:
        self.http = http_request
        self.engine = engine
        self.config = config
        self.request = request
        self.max_tokens = max_tokens
        self.fault = fault
        # The adapters' gauge, when this request asks for a LoRA adapter.
        self.lora = lora
        self.stream: web.StreamResponse | None = None
        # Tokens generated but not streamed yet (--stream-interval holds them back).
        self.held: list[str] = []
        self.sent_tokens = 0
        # Tool calls instead of text: what the deltas say (tool_calls.py), and how much of
        # the generated text the stream has released.
        self.tools: ToolPlan | None = None
        self.released = 0
        # A reasoning model's thinking: generated so far, held back like self.held, and
        # whether the token being sent is thinking (gateway/emulator/reasoning.py).
        self.thought: list[str] = []
        self.held_thought: list[str] = []
        self.thinking = False

    async def run(self) -> web.StreamResponse:
        if self.fault.refuse_continuation and self.request.kind == "chat" and self.request.partial:
            # vLLM renders the chat before any byte of the answer: a plain 400.
            body = error_body(CONTINUATION_REFUSED, "BadRequestError", 400, self.config.errors)
            return _json_response(body, 400)
        self.tools = plan_tools(self.request, self.config)
        if self.tools is not None:
            pieces = [*tokenize(self.tools.text), EOS]
        else:
            pieces = plan_pieces(self.request, self.config)
        self.thought_plan = plan_thought(self.request, self.config)
        # The tokens it will generate, thinking first: their blocks get cached as they fill.
        ticket = self.engine.open(self.request.prompt_tokens, [*self.thought_plan, *pieces])
        outcome: Outcome = "abort"
        ended = False  # the generation ran to an end of its own (or an injected fault's)
        if self.lora is not None:
            self.lora.arrived(self.request.model)
        try:
            if self.request.stream:
                # Like vLLM (Starlette's StreamingResponse), headers go out at once, before
                # the request even gets a slot; the first data frame waits for the token.
                self.stream = web.StreamResponse(
                    headers={
                        "Content-Type": "text/event-stream; charset=utf-8",
                        "Cache-Control": "no-cache",
                    }
                )
                await self.stream.prepare(self.http)
                await self._stream_opened()
            await guarded(self.http, self.engine.admit(ticket))
            if self.lora is not None:
                self.lora.started(self.request.model)
            await pause(self.http, self.engine.ttft_seconds(ticket))
            outcome, response = await self._generate(ticket, pieces)
            ended = True
            return response
        except (ClientGone, ConnectionResetError):
            outcome = "abort"
            return self.stream or web.Response(status=499)
        finally:
            # A request that ends without its generation ending (its client left, or the
            # handler was cancelled for it): vLLM 0.34 aborts it outside the engine's
            # finished stats (vllm/v1/engine/output_processor.py, abort_requests), so no
            # request_success{finished_reason="abort"} and no e2e latency.
            ticket.cancelled = self.config.current and not ended
            if self.lora is not None:
                self.lora.finished(self.request.model, started=ticket.admitted)
            self.engine.close(ticket, outcome)

    async def _generate(
        self, ticket: Ticket, pieces: list[str]
    ) -> tuple[Outcome, web.StreamResponse]:
        fault = self.fault
        if fault.fail_before_first_token:
            return "error", await self._error("The engine failed before the first token.")
        stalled = False
        text: list[str] = []
        loop = asyncio.get_running_loop()
        due = loop.time()
        for step, thinking in phased_decode(
            self.thought_plan,
            pieces,
            max_tokens=self.max_tokens,
            stop=self.request.stop,
            include_stop_str_in_output=self.request.include_stop_str_in_output,
        ):
            done = ticket.generated
            if fault.die_after_tokens is not None and done >= fault.die_after_tokens:
                return "died", self._die()
            if fault.error_after_tokens is not None and done >= fault.error_after_tokens:
                return "error", await self._error("The engine failed during generation.")
            if fault.abort_after_tokens is not None and done >= fault.abort_after_tokens:
                return "abort", await self._aborted(ticket, "".join(text))
            stall_at = fault.stall_after_tokens
            if not stalled and stall_at is not None and done >= stall_at:
                stalled = True
                seconds = fault.stall_seconds
                await pause(self.http, math.inf if seconds is None else seconds)
                due = loop.time()
            if ticket.preempted:
                # Its KV went to an older request: queue again, then recompute it all.
                await guarded(self.http, self.engine.readmit(ticket))
                await pause(self.http, self.engine.recompute_seconds(ticket))
                due = loop.time()
            behind = False
            if done:
                # Pace against an absolute schedule: the event loop cannot sleep less than
                # about a millisecond, so per-token sleeps would cap a request near 1,000
                # tokens/s; owing the difference instead keeps the average rate exact.
                interval = self.engine.inter_token_seconds()
                due += interval
                delay = due - loop.time()
                # A whole interval late, the next token is due already: vLLM's output
                # collector would merge the two before its server read them (below).
                behind = self.config.coalesce_when_behind and -delay >= interval
                if delay > 0:
                    await pause(self.http, delay)
                else:
                    await pause(self.http, 0)
                    await asyncio.sleep(0)  # let other requests run between tokens
            self.engine.token(ticket)
            self.thinking = thinking
            (self.thought if thinking else text).append(step.text)
            if self.stream is not None:
                await self._send_token(
                    ticket, step.text, step.finish_reason, step.stop_reason, hold=behind
                )
            if step.finish_reason is not None:
                reason = step.finish_reason
                return reason, await self._finish(ticket, "".join(text), reason, step.stop_reason)
        raise AssertionError("decode() always ends with a finishing step")

    async def _finish(
        self, ticket: Ticket, text: str, finish_reason: str, stop_reason: str | None
    ) -> web.StreamResponse:
        """The end of a generation that ran its course: the whole answer, or the stream's
        last frames (gateway/emulator/responses.py ends its own way)."""
        totals = self._totals(ticket.generated)
        if self.stream is None:
            body = full_response(
                self.request,
                text=self.request.echo + text,
                finish_reason=finish_reason,
                stop_reason=stop_reason,
                totals=self._usage(totals, ticket, "response"),
                reasoning=self._shown_thought(),
            )
            if self.tools is not None and finish_reason == "stop":
                # The parser found complete calls: they replace the text.
                (choice,) = body["choices"]
                choice["message"]["content"] = self.tools.content
                choice["message"]["tool_calls"] = self.tools.message_tool_calls()
                choice["finish_reason"] = self.tools.finish_reason("stop")
            response = _json_response(body)
            response.headers.update(self._orca_headers())
            return response
        if self.request.include_usage:
            final = self._usage(totals, ticket, "usage_chunk")
            await self.stream.write(_frame(usage_chunk(self.request, final)))
        await self.stream.write(_frame("[DONE]"))
        return self.stream

    def _totals(self, generated: int) -> dict[str, Any]:
        totals = usage(len(self.request.prompt_tokens), generated)
        if self.config.reasoning_parser is None or self.request.kind != "chat":
            return totals
        # The closing token is not thinking (vLLM's parsers count the tokens inside).
        thought = sum(1 for piece in self.thought if piece != END_OF_THINKING)
        return with_reasoning_tokens(totals, thought)

    def _shown_thought(self) -> str | None:
        if not self.request.thinks or not self.request.include_reasoning:
            return None
        return "".join(self.thought)

    async def _stream_opened(self) -> None:
        """Called once the stream's headers are out, before the request waits for a slot:
        what a server sends at once (the Responses API's ``response.created``) goes here."""

    async def _send_token(
        self,
        ticket: Ticket,
        text: str,
        finish_reason: str | None,
        stop_reason: str | None,
        *,
        hold: bool = False,
    ) -> None:
        """Stream one generated token, or hold it for the next chunk: by --stream-interval,
        or (``hold``) because the server is behind, as a loaded vLLM is: its
        RequestOutputCollector (vllm/v1/engine/output_processor.py) merges the outputs its
        API server has not read yet, so a slow loop sends several tokens per chunk."""
        assert self.stream is not None
        request = self.request
        now = self._totals(ticket.generated)
        running = self._usage(now if request.continuous_usage else None, ticket, "chunk")
        if ticket.generated == 1 and request.kind == "chat":
            first = self._totals(0) if request.continuous_usage else None
            first = self._usage(first, ticket, "chunk")
            await self.stream.write(_frame(chunk(request, role=True, usage_now=first)))
            if request.echo:
                echoed = chunk(request, text=request.echo, usage_now=first, echo=True)
                await self.stream.write(_frame(echoed))
        # vLLM 0.34 (vllm/v1/engine/output_processor.py, stream_interval): the first token
        # goes out at once, then one chunk per stream_interval tokens, and the end with
        # whatever is left; continuous usage then counts several tokens per chunk.
        (self.held_thought if self.thinking else self.held).append(text)
        due = ticket.generated - self.sent_tokens >= self.config.stream_interval
        if finish_reason is None and self.sent_tokens and (hold or not due):
            return
        text, self.held, self.sent_tokens = "".join(self.held), [], ticket.generated
        thought, self.held_thought = "".join(self.held_thought), []
        if not request.include_reasoning:
            thought = ""
        if finish_reason is None and not text and not thought:
            return  # held back for a possible stop string, or an empty piece: nothing to say
        delta = None
        if self.tools is not None:
            start, self.released = self.released, self.released + len(text)
            delta = self.tools.delta(start, self.released)
            if delta is None and finish_reason is None:
                return  # tool-call markup the parser keeps to itself
            delta = delta or {}
            if finish_reason is not None:
                finish_reason = self.tools.finish_reason(finish_reason)
        body = chunk(
            request,
            text=text,
            finish_reason=finish_reason,
            stop_reason=stop_reason,
            finishing=finish_reason is not None,
            usage_now=running,
            delta=delta,
            reasoning=thought,
        )
        await self.stream.write(_frame(body))

    async def _aborted(self, ticket: Ticket, text: str) -> web.StreamResponse:
        """The engine aborted the request: vLLM 0.34's output processor ends it with no new
        token and finish_reason "abort", which the server sends like any other end."""
        totals = self._totals(ticket.generated)
        if self.stream is None:
            body = full_response(
                self.request,
                text=self.request.echo + text,
                finish_reason="abort",
                stop_reason=None,
                totals=self._usage(totals, ticket, "response"),
                reasoning=self._shown_thought(),
            )
            return _json_response(body)
        request = self.request
        if ticket.generated == 0 and request.kind == "chat":
            first = self._usage(totals if request.continuous_usage else None, ticket, "chunk")
            await self.stream.write(_frame(chunk(request, role=True, usage_now=first)))
        running = self._usage(totals if request.continuous_usage else None, ticket, "chunk")
        # The tokens --stream-interval held back go out with the end, as in vLLM.
        held, self.held = "".join(self.held), []
        thought, self.held_thought = "".join(self.held_thought), []
        thought = thought if request.include_reasoning else ""
        end = chunk(
            request, text=held, finish_reason="abort", finishing=True, usage_now=running,
            empty_end=ticket.generated == 0 and not thought, reasoning=thought,
        )  # fmt: skip
        await self.stream.write(_frame(end))
        if request.include_usage:
            final = self._usage(totals, ticket, "usage_chunk")
            await self.stream.write(_frame(usage_chunk(request, final)))
        await self.stream.write(_frame("[DONE]"))
        return self.stream

    def _usage(self, totals: dict[str, Any] | None, ticket: Ticket, frame: Frame) -> Any:
        """A usage object with vLLM's prompt_tokens_details, when the worker gives them."""
        return with_details(totals, self.config, kind=self.request.kind, ticket=ticket, frame=frame)

    def _orca_headers(self) -> dict[str, str]:
        # Only non-streaming answers carry a load report, measured as the answer is complete
        # and before its slot is released: vLLM attaches it to the JSONResponse alone.
        return orca_headers(self.http, self.engine)

    async def _error(self, message: str) -> web.StreamResponse:
        fmt = self.config.errors
        code = self.fault.error_code or 500
        if code < 500:
            message = "The request was rejected while generating."
        err_type = _ERROR_TYPES.get(code, "InternalServerError")
        if self.stream is None:
            return _json_response(error_body(message, err_type, code, fmt), code)
        body = stream_error_body(message, err_type, code, fmt)
        await self.stream.write(_frame(body))
        await self.stream.write(_frame("[DONE]"))
        return self.stream

    def _die(self) -> web.StreamResponse:
        # Close the socket with what was sent so far flushed, and nothing more: the client
        # sees the body end without its terminating chunk, as when a worker process dies.
        transport = self.http.transport
        if transport is not None:
            transport.close()
        return self.stream or web.Response(status=500)
