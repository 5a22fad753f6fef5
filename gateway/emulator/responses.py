"""vLLM 0.34's OpenAI Responses API, ``POST /v1/responses``, streaming and not.

Read from vLLM 0.34's source (never copied): the route in
``vllm/entrypoints/openai/responses/api_router.py``, the request and response objects in
``responses/protocol.py``, the flow in ``responses/serving.py`` and the event sequence of the
plain-text (non-Harmony) path in ``responses/streaming_events.py``. What the emulator does:

- The input (a string, or a list of items) and ``instructions`` become the chat messages
  vLLM builds (``responses/utils.py construct_input_messages``: instructions first as a
  system message, a string as one user message); the answer is then the chat answer, with
  the same latency, queue, prefix cache, metrics and faults as ``/v1/chat/completions``.
  A final assistant message whose status is ``in_progress`` or ``incomplete`` is continued
  (vLLM's ``should_continue_final_message``).
- ``max_output_tokens`` is clamped to what fits the context; a prompt that fills the
  context is a 400 with ``param: "input"``.
- ``store``: vLLM keeps nothing unless it runs with ``VLLM_ENABLE_RESPONSES_API_STORE=1``
  (off by default): ``store: true`` (the default) is quietly treated as false, so any
  ``previous_response_id`` is a 404 ("Response with id '…' not found."), and
  ``background: true`` a 400. The emulator is that default server.
- Streaming: Server-Sent Events with an ``event:`` line naming each event's type, each
  event's ``sequence_number`` counting from 0, and no ``[DONE]`` at the end (the stream just
  ends after its terminal event). ``response.created`` and ``response.in_progress`` go out
  at once, before the request even has a slot in the batch; then ``output_item.added``,
  ``content_part.added``, one ``output_text.delta`` per streamed chunk (several tokens per
  chunk with ``--stream-interval``), ``output_text.done``, ``content_part.done``,
  ``output_item.done`` and ``response.completed`` (``response.incomplete`` when
  ``max_output_tokens`` cut the answer).
- An engine error while streaming: vLLM 0.34 builds a chat-style ``{"error": …}`` frame
  and validates it against its union of Responses event types, which it does not match, so
  the generator raises and the HTTP body breaks off without its last chunk. The emulator
  breaks the stream the same way. Without streaming it is the usual 500.
- An engine abort ends the answer as ``completed`` (vLLM's plain-text path marks only
  ``length`` as incomplete).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from .engine import Ticket
from .generation import Generation
from .protocol import ApiError, GenerationRequest, parse_chat

# responses/protocol.py ResponsesRequest: the sampling defaults echoed on the response.
_DEFAULT_TEMPERATURE = 1.0
_DEFAULT_TOP_P = 1.0
_ITEM_ROLES = ("user", "system", "developer", "assistant")
_TEXT_PARTS = ("input_text", "output_text", "text", "refusal")
_CONTINUED = ("in_progress", "incomplete")


def _uuid() -> str:
    return uuid.uuid4().hex  # vllm.utils.random_uuid


def _error(status: int, message: str, err_type: str, param: str | None) -> ApiError:
    error = ApiError(status, message, err_type)
    error.param = param  # type: ignore[attr-defined]
    return error


def _bad(message: str, param: str | None = None) -> ApiError:
    return _error(400, message, "BadRequestError", param)


def error_json(error: ApiError) -> dict[str, Any]:
    """vLLM 0.34's ErrorResponse, with the param the Responses server names."""
    return {
        "error": {
            "message": error.message,
            "type": error.err_type,
            "param": getattr(error, "param", None),
            "code": error.status,
        }
    }


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, dict) and part.get("type") in _TEXT_PARTS:
        text = part.get("text", part.get("refusal", ""))
        if isinstance(text, str):
            return text
    if isinstance(part, dict) and isinstance(part.get("type"), str):
        return ""  # images and files: no text for the emulator's tokenizer
    raise _bad("Each content part must be an object with a type.", "input")


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_part_text(part) for part in content)
    raise _bad("A message's content must be a string or a list of parts.", "input")


def input_messages(body: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The chat messages vLLM builds from ``instructions`` and ``input``, and whether the
    final one is a partial assistant message to continue."""
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise _bad("instructions must be a string", "instructions")
    if instructions:
        messages.append({"role": "system", "content": instructions})
    items = body.get("input")
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
        return messages, False
    if not isinstance(items, list):
        raise _bad("input must be a string or a list of items", "input")
    continued = False
    for item in items:
        if not isinstance(item, dict):
            raise _bad("Each input item must be an object.", "input")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in _ITEM_ROLES:
                raise _bad(f"Unsupported input message role: {role!r}", "input")
            messages.append({"role": role, "content": _content(item.get("content"))})
            continued = role == "assistant" and item.get("status") in _CONTINUED
        elif kind == "function_call":
            call = f"{item.get('name', '')}({item.get('arguments', '')})"
            messages.append({"role": "assistant", "content": call})
            continued = False
        elif kind == "function_call_output":
            output = item.get("output", "")
            messages.append({"role": "tool", "content": _content(output)})
            continued = False
        elif kind == "reasoning":
            continue  # vLLM leaves reasoning items out of the prompt
        else:
            raise _bad(f"Unsupported input item type: {kind!r}", "input")
    if not messages:
        raise _bad("input must not be empty", "input")
    return messages, continued


def parse_responses(body: Any, config: Any) -> tuple[GenerationRequest, dict[str, Any]]:
    """The generation request for a Responses body, and the body (echoed on the answer)."""
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    if body.get("prompt") is not None:
        raise _bad("prompt template is not supported", "prompt")
    if body.get("background") and body.get("store", True) is not False:
        raise _bad(
            "This vLLM engine does not support `store=True` and therefore does not support "
            "the background mode. To enable these features, set the environment variable "
            "`VLLM_ENABLE_RESPONSES_API_STORE=1` when launching the vLLM server.",
            "background",
        )
    messages, continued = input_messages(body)
    chat: dict[str, Any] = {
        "model": body.get("model"),
        "messages": messages,
        "stream": bool(body.get("stream") or False),
    }
    for name in ("seed", "stop", "temperature", "structured_outputs",
                 "include_stop_str_in_output"):  # fmt: skip
        if body.get(name) is not None:
            chat[name] = body[name]
    if continued:
        chat["continue_final_message"] = True
        chat["add_generation_prompt"] = False
    request = parse_chat(chat, config)
    # Reasoning items are not emulated: on a --reasoning-parser worker, no thinking either.
    request.thinks = False
    # vLLM names a response after the body's request_id, never the X-Request-Id header.
    request.request_id = f"resp_{_uuid()}"
    max_output = body.get("max_output_tokens")
    if max_output is not None and (isinstance(max_output, bool) or not isinstance(max_output, int)):
        raise _bad("max_output_tokens must be an integer", "max_output_tokens")
    if max_output is not None and max_output < 1:
        raise _bad(f"max_tokens must be at least 1, got {max_output}.", "max_output_tokens")
    previous = body.get("previous_response_id")
    if previous is not None:
        # The store is off (VLLM_ENABLE_RESPONSES_API_STORE unset): nothing was kept.
        raise _error(
            404, f"Response with id '{previous}' not found.", "invalid_request_error",
            "response_id",
        )  # fmt: skip
    prompt_len = len(request.prompt_tokens)
    if prompt_len >= config.max_model_len:
        raise _error(
            400,
            f"The engine prompt length {prompt_len} exceeds the max_model_len "
            f"{config.max_model_len}. Please reduce prompt.",
            "invalid_request_error",
            "input",
        )
    room = config.max_model_len - prompt_len
    request.max_tokens = room if max_output is None else min(max_output, room)
    return request, body


def response_usage(prompt: int, output: int, cached: int) -> dict[str, Any]:
    # SimpleContext (responses/context.py) keeps no per-turn counts: empty lists.
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": cached,
            "cache_write_tokens": 0,
            "input_tokens_per_turn": [],
            "cached_tokens_per_turn": [],
        },
        "output_tokens": output,
        "output_tokens_details": {
            "reasoning_tokens": 0,
            "tool_output_tokens": 0,
            "output_tokens_per_turn": [],
            "tool_output_tokens_per_turn": [],
        },
        "total_tokens": prompt + output,
    }


def _tool_choice(body: dict[str, Any]) -> Any:
    choice = body.get("tool_choice", "auto")
    if not body.get("tools") and choice in ("auto", "none", None):
        return "none"  # ResponsesRequest.check_tool_usage
    return choice


def response_object(
    body: dict[str, Any],
    request: GenerationRequest,
    *,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
) -> dict[str, Any]:
    """ResponsesResponse.from_request, every field present (vLLM dumps the nulls too)."""
    temperature = body.get("temperature")
    top_p = body.get("top_p")
    parallel = body.get("parallel_tool_calls")
    include = body.get("include") or []
    return {
        "id": request.request_id,
        "created_at": request.created,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": body.get("instructions"),
        "metadata": body.get("metadata"),
        "model": request.model,
        "object": "response",
        "output": output,
        "parallel_tool_calls": True if parallel is None else parallel,
        "temperature": _DEFAULT_TEMPERATURE if temperature is None else float(temperature),
        "tool_choice": _tool_choice(body),
        "tools": body.get("tools") or [],
        "top_p": _DEFAULT_TOP_P if top_p is None else float(top_p),
        "background": bool(body.get("background") or False),
        "max_output_tokens": request.max_tokens,
        "max_tool_calls": body.get("max_tool_calls"),
        "previous_response_id": body.get("previous_response_id"),
        "prompt": None,
        "prompt_cache_options": body.get("prompt_cache_options"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "prompt_cache_retention": body.get("prompt_cache_retention"),
        "reasoning": body.get("reasoning"),
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": body.get("service_tier") or "auto",
        "status": status,
        "text": body.get("text"),
        "top_logprobs": (
            body.get("top_logprobs") or 0 if "message.output_text.logprobs" in include else None
        ),
        "truncation": body.get("truncation") or "disabled",
        "usage": usage,
        "user": body.get("user"),
        "presence_penalty": float(body.get("presence_penalty") or 0.0),
        "frequency_penalty": float(body.get("frequency_penalty") or 0.0),
        "kv_transfer_params": None,
        "ec_transfer_params": None,
        "input_messages": None,
        "output_messages": None,
    }


def _text_part(text: str, logprobs: list | None) -> dict[str, Any]:
    return {"annotations": [], "text": text, "type": "output_text", "logprobs": logprobs}


def _message(item_id: str, text: str, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "content": [_text_part(text, None)] if text else [],
        "role": "assistant",
        "status": status,
        "type": "message",
        "phase": None,
    }


def item_status(finish_reason: str | None) -> str:
    return "incomplete" if finish_reason == "length" else "completed"  # utils.py


class ResponsesGeneration(Generation):
    """A Responses request: the chat generation, told as Responses events or objects."""

    def __init__(self, *, body: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.body = body
        self.sequence = 0
        self.item_id: str | None = None  # the message item, once its first text came
        self.text: list[str] = []

    async def _event(self, kind: str, **fields: Any) -> None:
        assert self.stream is not None
        event = {**fields, "sequence_number": self.sequence, "type": kind}
        self.sequence += 1
        data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        await self.stream.write(f"event: {kind}\ndata: {data}\n\n".encode())

    def _response(self, status: str, output: list, usage: dict | None = None) -> dict[str, Any]:
        return response_object(self.body, self.request, status=status, output=output, usage=usage)

    async def _stream_opened(self) -> None:
        initial = self._response("in_progress", [])
        await self._event("response.created", response=initial)
        await self._event("response.in_progress", response=initial)

    async def _send_token(
        self,
        ticket: Ticket,
        text: str,
        finish_reason: str | None,
        stop_reason: str | None,
        *,
        hold: bool = False,
    ) -> None:
        # Held back as the chat's chunks are (--stream-interval, a server behind, stops).
        self.held.append(text)
        due = ticket.generated - self.sent_tokens >= self.config.stream_interval
        if finish_reason is None and self.sent_tokens and (hold or not due):
            return
        text, self.held, self.sent_tokens = "".join(self.held), [], ticket.generated
        await self._delta(text)

    async def _delta(self, text: str) -> None:
        if not text:
            return  # vLLM's processor opens nothing for an empty delta
        if self.item_id is None:
            self.item_id = f"msg_{_uuid()}"
            await self._event(
                "response.output_item.added",
                item=_message(self.item_id, "", "in_progress"),
                output_index=0,
            )
            await self._event(
                "response.content_part.added",
                content_index=0,
                item_id=self.item_id,
                output_index=0,
                part=_text_part("", []),
            )
        self.text.append(text)
        await self._event(
            "response.output_text.delta",
            content_index=0,
            delta=text,
            item_id=self.item_id,
            logprobs=[],
            output_index=0,
        )

    def _usage(self, ticket: Ticket) -> dict[str, Any]:
        prompt = len(self.request.prompt_tokens)
        return response_usage(prompt, ticket.generated, min(ticket.cached_tokens, prompt))

    async def _finish(
        self, ticket: Ticket, text: str, finish_reason: str, stop_reason: str | None
    ) -> web.StreamResponse:
        status = item_status(finish_reason)
        if self.stream is None:
            output = [] if not text else [_message(f"msg_{_uuid()}", text, status)]
            body = self._response(status, output, self._usage(ticket))
            response = web.Response(
                body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
                content_type="application/json",
            )
            response.headers.update(self._orca_headers())
            return response
        output: list[dict[str, Any]] = []
        if self.item_id is not None:
            whole = "".join(self.text)
            await self._event(
                "response.output_text.done",
                content_index=0,
                item_id=self.item_id,
                logprobs=[],
                output_index=0,
                text=whole,
            )
            await self._event(
                "response.content_part.done",
                content_index=0,
                item_id=self.item_id,
                output_index=0,
                part=_text_part(whole, None),
            )
            item = _message(self.item_id, whole, status)
            await self._event("response.output_item.done", item=item, output_index=0)
            output.append(item)
        final = self._response(status, output, self._usage(ticket))
        terminal = "response.incomplete" if status == "incomplete" else "response.completed"
        await self._event(terminal, response=final)
        return self.stream

    async def _aborted(self, ticket: Ticket, text: str) -> web.StreamResponse:
        # The plain-text path marks only "length" incomplete: an abort ends as completed.
        if self.stream is not None:
            held, self.held = "".join(self.held), []
            await self._delta(held)
        return await self._finish(ticket, text, "abort", None)

    async def _error(self, message: str) -> web.StreamResponse:
        if self.stream is None:
            # GenerationError's 500 through vLLM's exception handler: nested, as in 0.34.
            error = _error(500, "Internal server error", "InternalServerError", None)
            return responses_error(error)
        # vLLM 0.34's error frame fails its own event validation: the body breaks off.
        return self._die()


def _json(data: Any, status: int) -> web.Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, content_type="application/json")


def responses_error(error: ApiError) -> web.Response:
    return _json(error_json(error), error.status)
