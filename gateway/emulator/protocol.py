"""vLLM's OpenAI-compatible wire format: request validation and response bodies.

Response shapes: vLLM 0.34's by default (``wire.py``, with the source files it is read
from); with ``--vllm-version 0.10`` the shapes of vLLM 0.8 to 0.10
(``vllm/entrypoints/openai/protocol.py``): streamed objects are serialised with unset fields
left out, so a content chunk has no ``usage`` key at all, while the role chunk and the
finishing chunk carry ``logprobs`` and ``finish_reason`` explicitly.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from . import wire
from .config import EmulatorConfig, ErrorFormat
from .tokens import (
    content_text,
    last_user_text,
    open_assistant_turn,
    render_chat,
    token_ids,
    token_piece,
    tokenize,
)

Kind = Literal["chat", "completion"]


class ApiError(Exception):
    """An error answered as vLLM's ErrorResponse with this HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        err_type: str = "BadRequestError",
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.err_type = err_type
        # vLLM 0.34 names the offending field (VLLMValidationError.parameter).
        self.param = param


# transformers' apply_chat_template, when a template alters the final message so that its
# stripped text is no longer in the rendered chat; vLLM answers the ValueError with a 400.
CONTINUATION_REFUSED = (
    "continue_final_message is set but the final message does not appear in the chat after "
    "applying the chat template! This can happen if the chat template deletes portions of "
    "the final message. Please verify the chat template accepts the final message in your "
    "chat without trimming or modification."
)


def error_body(
    message: str, err_type: str, code: int, fmt: ErrorFormat, param: str | None = None
) -> dict[str, Any]:
    if fmt == "nested":
        return {"error": {"message": message, "type": err_type, "param": param, "code": code}}
    return {"object": "error", "message": message, "type": err_type, "param": param, "code": code}


def stream_error_body(message: str, err_type: str, code: int, fmt: ErrorFormat) -> dict[str, Any]:
    """The in-stream error frame: the ErrorResponse under an "error" key (flat format), or
    the nested ErrorResponse itself, which already is one."""
    body = error_body(message, err_type, code, fmt)
    return body if fmt == "nested" else {"error": body}


def validation_error(kind: str, loc: str, msg: str, input_text: str, **ctx: str) -> ApiError:
    """FastAPI's RequestValidationError as vLLM 0.34 answers it
    (vllm/entrypoints/serve/exception_handling/handlers/validation.py): type "Bad Request",
    the first error's location as ``param``, and a message listing the errors."""
    detail = f"{{'type': '{kind}', 'loc': '{loc}', 'msg': '{msg}', 'input': {input_text}"
    if ctx:
        detail += ", 'ctx': {" + ", ".join(f"'{k}': '{v}'" for k, v in ctx.items()) + "}"
    return ApiError(400, f"1 validation error:\n  {detail}}}", "Bad Request", param=loc)


def vllm_validation(message: str, parameter: str | None = None, value: object = None) -> ApiError:
    """A ``VLLMValidationError`` answered as vLLM 0.34 does (vllm/exceptions.py,
    serve/exception_handling/error_response.py): BadRequestError, ``param`` the parameter,
    and the message as ``str(exc)``, which appends the parameter and the value."""
    extras = [f"parameter={parameter}"] if parameter is not None else []
    if value is not None:
        extras.append(f"value={value}")
    if extras:
        message = f"{message} ({', '.join(extras)})"
    return ApiError(400, message, param=parameter)


def model_not_found(model: str, config: EmulatorConfig) -> ApiError:
    if not config.current:
        return ApiError(404, f"The model `{model}` does not exist.", "NotFoundError")
    # vllm/entrypoints/serve/engine/serving.py (_check_model): the base models' names.
    aliases = ", ".join(config.models)
    return ApiError(
        404,
        f"The model `{model}` does not exist. Valid aliases: {aliases}.",
        "NotFoundError",
        param="model",
    )


@dataclass
class GenerationRequest:
    kind: Kind
    model: str
    stream: bool
    include_usage: bool
    continuous_usage: bool
    max_tokens: int | None
    stop: list[str]
    include_stop_str_in_output: bool
    seed: int | None
    # What the model reads (usage, prefix cache) …
    prompt: str
    # … and what the answer is a function of: the prompt without a partial answer being
    # continued, so the continuation and the uninterrupted run compose the same text.
    answer_basis: str
    question: str
    partial: str = ""
    # vLLM's chat ``echo``: the final message's text, sent before the answer (see parse_chat).
    echo: str = ""
    # structured_outputs.choice: the answer is one of these, exactly (vLLM 0.34 reads only
    # structured_outputs and response_format; guided_* are ignored, as vLLM ignores them).
    choice: list[str] | None = None
    # A reasoning model (--reasoning-parser) that thinks before this answer, and whether
    # the answer shows the thinking (vLLM's include_reasoning).
    thinks: bool = False
    include_reasoning: bool = True
    prompt_tokens: list[str] = field(default_factory=list)
    # Tools offered (chat only) and vLLM's resolved tool_choice: "none", "auto", "required"
    # or {"type": "function", "function": {"name": …}} (see parse_tools).
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool = True
    request_id: str = ""
    created: int = 0
    # Shaped as vLLM 0.34's (wire.py) rather than 0.10's, and 0.34's fingerprint.
    current: bool = False
    system_fingerprint: str | None = None

    def __post_init__(self) -> None:
        prefix = "chatcmpl" if self.kind == "chat" else "cmpl"
        self.request_id = self.request_id or f"{prefix}-{uuid.uuid4().hex}"
        self.created = self.created or int(time.time())
        self.prompt_tokens = self.prompt_tokens or tokenize(self.prompt)


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def _optional_int(body: dict[str, Any], name: str, minimum: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{name} must be an integer")
    if value < minimum:
        raise _bad(f"{name} must be at least {minimum}, got {value}.")
    return value


def _common(body: dict[str, Any], config: EmulatorConfig) -> dict[str, Any]:
    model = body.get("model")
    if model is None:
        # vLLM (0.8+) serves its first model name when the request names none.
        model = config.models[0]
    if not isinstance(model, str):
        raise _bad("model must be a string")
    if model not in config.served_names:
        raise model_not_found(model, config)

    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream must be a boolean")
    options = body.get("stream_options")
    if options is not None:
        if not stream:
            message = "Stream options can only be defined when `stream=True`."
            if config.current:
                raise vllm_validation(message, "stream_options")
            raise _bad(message)
        if not isinstance(options, dict):
            raise _bad("stream_options must be an object")
    include_usage = bool((options or {}).get("include_usage"))
    continuous_usage = bool((options or {}).get("continuous_usage_stats"))
    if config.current:
        # vllm/entrypoints/serve/utils/api_utils.py (should_include_usage): continuous
        # usage only comes with include_usage.
        continuous_usage = continuous_usage and include_usage

    stop = body.get("stop")
    if stop is None:
        stop = []
    elif isinstance(stop, str):
        stop = [stop]
    elif not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise _bad("stop must be a string or a list of strings")

    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, int | float)
    ):
        raise _bad("temperature must be a number")
    # n > 1 is accepted and answered with one choice (documented in docs/emulator.md).
    _optional_int(body, "n", 1)

    structured = body.get("structured_outputs")
    choice = structured.get("choice") if isinstance(structured, dict) else None
    if choice is not None and not (
        isinstance(choice, list) and choice and all(isinstance(c, str) for c in choice)
    ):
        raise _bad("structured_outputs.choice must be a non-empty list of strings")

    max_tokens = _optional_int(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _optional_int(body, "max_tokens", 1)
    return {
        "model": model,
        "stream": stream,
        "include_usage": include_usage,
        "continuous_usage": continuous_usage,
        "max_tokens": max_tokens,
        "stop": [s for s in stop if s],
        "include_stop_str_in_output": bool(body.get("include_stop_str_in_output", False)),
        "seed": _optional_int(body, "seed", -(2**63)),
        "choice": choice,
        "current": config.current,
        "system_fingerprint": config.system_fingerprint,
    }


def parse_chat(body: Any, config: EmulatorConfig) -> GenerationRequest:
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    common = _common(body, config)
    messages = body.get("messages")
    if messages is None and config.current:
        raise validation_error(
            "missing", "body.messages", "Field required", f"'<dict of {len(body)} items>'"
        )
    if not isinstance(messages, list) or not messages:
        raise _bad("messages must be a non-empty list")
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _bad("each message must be an object with a role")
        try:
            content_text(message.get("content"))
        except TypeError as exc:
            raise _bad(str(exc)) from None

    continue_final = body.get("continue_final_message", False)
    add_generation_prompt = body.get("add_generation_prompt")
    if continue_final and add_generation_prompt:
        raise _bad("Cannot set both `continue_final_message` and `add_generation_prompt` to True.")
    partial = ""
    rendered = messages
    if continue_final:
        if messages[-1]["role"] != "assistant":
            raise _bad("continue_final_message needs the last message to be from the assistant")
        # Hugging Face's apply_chat_template cuts the rendered chat right after the final
        # message's stripped text: the model never reads its trailing whitespace, and
        # continues from the last visible character.
        partial = content_text(messages[-1].get("content")).rstrip()
        rendered = [*messages[:-1], {**messages[-1], "content": partial}]
        earlier = messages[:-1]
    else:
        earlier = messages
    add_prompt = not continue_final and add_generation_prompt is not False
    prompt = render_chat(
        rendered, add_generation_prompt=add_prompt, continue_final_message=bool(continue_final)
    )
    # The answer is a function of the conversation as it stood before the assistant began.
    basis = render_chat(earlier, add_generation_prompt=True, continue_final_message=False)
    users = [m for m in earlier if m["role"] == "user"]
    question = content_text(users[-1].get("content")) if users else ""
    # vLLM 0.34 (serving.py, chat_completion): with ``echo`` the answer starts with the final
    # message's text when that message has the answer's role, which is the assistant's with
    # a generation prompt and the final message's own role without one: a continuation
    # echoes the partial it continues.
    echo = ""
    if body.get("echo"):
        role = "assistant" if add_generation_prompt is not False else messages[-1]["role"]
        if messages[-1]["role"] == role:
            echo = content_text(messages[-1].get("content"))
    tools, tool_choice = parse_tools(body, config)
    include_reasoning = body.get("include_reasoning", True)
    if not isinstance(include_reasoning, bool):
        raise _bad("include_reasoning must be a boolean")
    return GenerationRequest(
        kind="chat", prompt=prompt, answer_basis=basis, question=question, partial=partial,
        echo=echo, tools=tools, tool_choice=tool_choice,
        parallel_tool_calls=body.get("parallel_tool_calls") is not False,
        thinks=config.reasoning_parser is not None and not continue_final,
        include_reasoning=include_reasoning, **common,
    )  # fmt: skip


def parse_tools(body: dict[str, Any], config: EmulatorConfig) -> tuple[Any, Any]:
    """``tools`` and the resolved ``tool_choice``, with vLLM 0.34's checks
    (vllm/entrypoints/openai/chat_completion/protocol.py ``check_tool_usage`` and
    vllm/renderers/online_renderer.py for the server flags)."""
    tools, choice = body.get("tools"), body.get("tool_choice")
    if tools is not None and not (
        isinstance(tools, list)
        and all(isinstance(t, dict) and isinstance(t.get("function"), dict) for t in tools)
        and all(isinstance(t["function"].get("name"), str) for t in tools)
    ):
        raise _bad('tools must be a list of {"type": "function", "function": {"name": …}}')
    if tools == [] and not isinstance(choice, dict):
        tools = None
        if choice in ("auto", "required"):
            choice = "none"
    if "tool_choice" not in body and tools:
        choice = "auto"
    if choice is None or choice == "none":
        return tools, "none" if tools else None
    if tools is None:
        raise _bad("When using `tool_choice`, `tools` must be set.")
    usage = 'Correct usage: `{"type": "function", "function": {"name": "my_function"}}`'
    if isinstance(choice, dict):
        function = choice.get("function")
        if not isinstance(function, dict):
            raise _bad(f"Invalid value for `function`: `{function}` in `tool_choice`! {usage}")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise _bad(f"Invalid `name` in `function`: `{name}` in `tool_choice`! {usage}")
        if not any(t["function"]["name"] == name for t in tools):
            raise _bad(
                f"The tool `{name}` specified in `tool_choice` does not match any of the "
                "specified `tools`"
            )
    elif choice not in ("auto", "required"):
        raise _bad(
            f"Invalid value for `tool_choice`: {choice}! "
            'Only named tools, "none", "auto" or "required" are supported.'
        )
    if config.tool_call_parser is None:
        if choice == "auto" and not config.enable_auto_tool_choice:
            raise _bad(
                '"auto" tool choice requires --enable-auto-tool-choice and '
                "--tool-call-parser to be set"
            )
        if choice != "auto":
            what = (
                f'function "{choice["function"]["name"]}"'
                if isinstance(choice, dict)
                else (f'"{choice}"')
            )
            raise _bad(f"tool_choice={what} requires --tool-call-parser to be set")
    return tools, choice


def parse_completion(body: Any, config: EmulatorConfig) -> GenerationRequest:
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    common = _common(body, config)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
        # One prompt in a batch of one; larger batches are not emulated.
        prompt = prompt[0]
    if isinstance(prompt, str):
        text, tokens = prompt, tokenize(prompt)
    elif (
        isinstance(prompt, list)
        and prompt
        and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt)
    ):
        # Token ids: those POST /tokenize gave out read as their text; any other id stands
        # for one opaque token.
        tokens = [token_piece(t) or f"<{t}>" for t in prompt]
        text = "".join(tokens)
    else:
        raise _bad("prompt must be a string, a list of token ids, or a list with one of those")
    if not tokens:
        raise _bad("prompt must not be empty")
    basis, question, partial = text, text, ""
    if turn := open_assistant_turn(text):
        # A rendered chat inside an assistant message: continued as the chat would be, so
        # partial + continuation is the chat's own answer.
        basis, partial = turn
        question = last_user_text(basis)
    return GenerationRequest(
        kind="completion", prompt=text, answer_basis=basis, question=question, partial=partial,
        prompt_tokens=tokens, **common,
    )  # fmt: skip


def tokenize_body(body: Any, config: EmulatorConfig) -> dict[str, Any]:
    """vLLM's ``POST /tokenize`` (``vllm/entrypoints/serve/tokenize/``): a prompt, or
    messages rendered with the chat template, to token ids."""
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    model = body.get("model")
    if model is not None and model not in config.served_names:
        raise model_not_found(model, config)
    if isinstance(body.get("messages"), list):
        continue_final = bool(body.get("continue_final_message"))
        if continue_final and body.get("add_generation_prompt"):
            raise _bad(
                "Cannot set both `continue_final_message` and `add_generation_prompt` to True."
            )
        add_prompt = not continue_final and body.get("add_generation_prompt") is not False
        for message in body["messages"]:
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise _bad("each message must be an object with a role")
        text = render_chat(
            body["messages"], add_generation_prompt=add_prompt,
            continue_final_message=continue_final,
        )  # fmt: skip
    elif isinstance(body.get("prompt"), str):
        text = body["prompt"]
    else:
        raise _bad("prompt must be a string, or messages a list")
    tokens = token_ids(tokenize(text))
    return {"count": len(tokens), "max_model_len": config.max_model_len, "tokens": tokens,
            "token_strs": None}  # fmt: skip


def check_lengths(request: GenerationRequest, max_model_len: int) -> int:
    """vLLM's context-length checks; returns the effective max_tokens."""
    if request.current:
        return clamp_max_tokens(request, max_model_len)
    prompt_len = len(request.prompt_tokens)
    if prompt_len >= max_model_len:
        raise _bad(
            f"This model's maximum context length is {max_model_len} tokens. However, your "
            f"request has {prompt_len} input tokens. Please reduce the length of the input."
        )
    if request.max_tokens is None:
        return max_model_len - prompt_len
    if prompt_len + request.max_tokens > max_model_len:
        raise _bad(
            f"This model's maximum context length is {max_model_len} tokens. However, you "
            f"requested {prompt_len + request.max_tokens} tokens ({prompt_len} in the "
            f"messages, {request.max_tokens} in the completion). Please reduce the length "
            "of the messages or completion."
        )
    return request.max_tokens


def clamp_max_tokens(request: GenerationRequest, max_model_len: int) -> int:
    """vLLM 0.34: a prompt longer than the context is refused by the renderer's length check
    (vllm/renderers/params.py, ``_token_len_check``); otherwise max_tokens is clamped to what
    the context leaves (vllm/entrypoints/serve/utils/api_utils.py, ``get_max_tokens``), and
    a prompt that fills the context exactly leaves 0, which SamplingParams refuses
    (vllm/sampling_params.py)."""
    prompt_len = len(request.prompt_tokens)
    if prompt_len > max_model_len:
        raise vllm_validation(
            f"This model's maximum context length is {max_model_len} tokens. However, your "
            f"prompt contains {prompt_len} input tokens, which exceeds this limit even "
            "without any output tokens. Please reduce the length of the input prompt.",
            "input_tokens",
            prompt_len,
        )
    room = max_model_len - prompt_len
    max_tokens = room if request.max_tokens is None else min(room, request.max_tokens)
    if max_tokens < 1:
        raise vllm_validation(
            f"max_tokens must be at least 1, got {max_tokens}.", "max_tokens", max_tokens
        )
    return max_tokens


# --- response bodies ----------------------------------------------------------------------


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
    }


def chunk(
    request: GenerationRequest,
    *,
    text: str | None = None,
    role: bool = False,
    finish_reason: str | None = None,
    stop_reason: str | None = None,
    finishing: bool = False,
    usage_now: dict[str, Any] | None = None,
    echo: bool = False,
    empty_end: bool = False,
    delta: dict[str, Any] | None = None,
    reasoning: str = "",
) -> dict[str, Any]:
    """One streamed object. ``finishing`` adds ``stop_reason`` as vLLM's finishing chunk does;
    ``echo`` marks the chunk that echoes the final message, ``empty_end`` a finishing chunk
    with no output at all (their 0.34 shapes differ); ``delta`` replaces a chat chunk's text
    delta (tool calls); ``reasoning`` is a reasoning model's thinking in this chunk
    (gateway/emulator/reasoning.py), alone in the delta unless the chunk also carries
    answer text."""
    if request.current and request.kind == "chat":
        return wire.chat_chunk(
            request, text=text, role=role, echo=echo, finish_reason=finish_reason,
            stop_reason=stop_reason, finishing=finishing, usage_now=usage_now,
            empty_end=empty_end, delta=delta, reasoning=reasoning,
        )  # fmt: skip
    if request.current:
        return wire.completion_chunk(
            request, text=text, finish_reason=finish_reason, stop_reason=stop_reason,
            usage_now=usage_now,
        )  # fmt: skip
    choice: dict[str, Any] = {"index": 0}
    if request.kind == "chat" and delta is not None:
        choice["delta"] = delta
    elif request.kind == "chat":
        delta = {"role": "assistant", "content": ""} if role else {}
        if reasoning and not role:
            delta["reasoning_content"] = reasoning  # vLLM 0.10's name
        if text is not None and not role and (text or not reasoning):
            delta["content"] = text
        choice["delta"] = delta
    else:
        choice["text"] = text or ""
    choice["logprobs"] = None
    choice["finish_reason"] = finish_reason
    if finishing or request.kind == "completion":
        choice["stop_reason"] = stop_reason
    body: dict[str, Any] = {
        "id": request.request_id,
        "object": "chat.completion.chunk" if request.kind == "chat" else "text_completion",
        "created": request.created,
        "model": request.model,
        "choices": [choice],
    }
    if usage_now is not None:
        body["usage"] = usage_now
    return body


def usage_chunk(request: GenerationRequest, totals: dict[str, int]) -> dict[str, Any]:
    if request.current:
        return wire.usage_chunk(request, totals)
    return {
        "id": request.request_id,
        "object": "chat.completion.chunk" if request.kind == "chat" else "text_completion",
        "created": request.created,
        "model": request.model,
        "choices": [],
        "usage": totals,
    }


def full_response(
    request: GenerationRequest,
    *,
    text: str | None,
    finish_reason: str,
    stop_reason: str | None,
    totals: dict[str, Any],
    tool_calls: list[dict[str, Any]] | None = None,
    reasoning: str | None = None,
) -> dict[str, Any]:
    if request.current:
        return wire.full_response(
            request, text=text, finish_reason=finish_reason, stop_reason=stop_reason,
            totals=totals, tool_calls=tool_calls, reasoning=reasoning,
        )  # fmt: skip
    if request.kind == "chat":
        message = {
            "role": "assistant",
            "content": text,
            "refusal": None,
            "annotations": None,
            "audio": None,
            "function_call": None,
            "tool_calls": tool_calls or [],
            "reasoning_content": reasoning,  # vLLM 0.10's name; 0.34 says "reasoning"
        }
        choice: dict[str, Any] = {"index": 0, "message": message}
    else:
        choice = {"index": 0, "text": text}
    choice.update(logprobs=None, finish_reason=finish_reason, stop_reason=stop_reason)
    if request.kind == "completion":
        choice["prompt_logprobs"] = None
    return {
        "id": request.request_id,
        "object": "chat.completion" if request.kind == "chat" else "text_completion",
        "created": request.created,
        "model": request.model,
        "choices": [choice],
        "service_tier": None,
        "system_fingerprint": None,
        # Details only with --enable-prompt-tokens-details (cache_usage.py).
        "usage": {**totals, "prompt_tokens_details": totals.get("prompt_tokens_details")},
        "prompt_logprobs": None,
        "kv_transfer_params": None,
    }


def models_body(config: EmulatorConfig, created: int) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "vllm",
                "root": name,
                "parent": None,
                "max_model_len": config.max_model_len,
                "permission": [
                    {
                        "id": f"modelperm-{uuid.uuid4().hex}",
                        "object": "model_permission",
                        "created": created,
                        "allow_create_engine": False,
                        "allow_sampling": True,
                        "allow_logprobs": True,
                        "allow_search_indices": False,
                        "allow_view": True,
                        "allow_fine_tuning": False,
                        "organization": "*",
                        "group": None,
                        "is_blocking": False,
                    }
                ],
            }
            for name in config.models
        ]
        + [_lora_card(name, path, config, created) for name, path in config.lora_modules],
    }


def _lora_card(name: str, path: str, config: EmulatorConfig, created: int) -> dict[str, Any]:
    """vllm/entrypoints/openai/models/serving.py (show_available_models): an adapter's card
    has its path as ``root``, the base model as ``parent`` and no max_model_len."""
    return {
        "id": name,
        "object": "model",
        "created": created,
        "owned_by": "vllm",
        "root": path,
        "parent": config.models[0],
        "max_model_len": None,
        "permission": [_permission(created)],
    }


def _permission(created: int) -> dict[str, Any]:
    return {
        "id": f"modelperm-{uuid.uuid4().hex}",
        "object": "model_permission",
        "created": created,
        "allow_create_engine": False,
        "allow_sampling": True,
        "allow_logprobs": True,
        "allow_search_indices": False,
        "allow_view": True,
        "allow_fine_tuning": False,
        "organization": "*",
        "group": None,
        "is_blocking": False,
    }
