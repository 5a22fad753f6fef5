"""The review of every field ``/v1`` forwards to a worker: its type, its range, its size.

validation.py decides which fields may pass at all; this module decides what each may hold.
A field a worker reads as code, or as an index into its memory, is where a client reaches
past sampling: vLLM before 0.11 rendered a ``chat_template`` handed to it inside
``chat_template_kwargs`` (a client's Jinja run on the worker), and out-of-vocabulary token
ids, huge lists of them and unbounded grammars have each crashed or stalled a worker for
everyone on it. So:

- ``body_wellformed`` walks the whole body once: every string must be text the database can
  store and a worker can tokenize (common/text.py: no NUL, and no lone surrogate, which a
  JSON ``"\\ud800"`` escape decodes to and a worker's tokenizer cannot encode: a 500 on every
  worker), every number finite (Python's JSON reader takes ``NaN``
  and ``1e999``) and every integer within 64 bits; no key named ``chat_template`` at any
  depth.
- ``fields_check`` checks each forwarded field against its rule (``_RULES``); a field
  validation.py forwards without a rule here fails the test suite
  (tests/security/test_forwarded_fields.py), so a new field cannot be forwarded unreviewed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings

from common.text import text_refusal
from gateway.api.errors import bad_request

MAX_LOGPROBS = 20
MAX_STOP = 16
# OpenAI's own limit for logit_bias.
MAX_LOGIT_BIAS = 300
MAX_TOKEN_LIST = 1024
MAX_BAD_WORDS = 64
MAX_WORD_CHARS = 200
MAX_CHOICES = 256
# Grammars, regular expressions and JSON schemas are compiled by the worker per request.
MAX_GUIDE_BYTES = 32 * 1024
# prompt_cache_key: a name, not content (OpenAI's examples are ids and short labels); it is
# hashed into the affinity key, so the bound only keeps bodies honest.
MAX_CACHE_KEY_CHARS = 256
MAX_TEMPLATE_KWARGS_BYTES = 1024
_INT64 = 2**63
_TEMPLATE_KEY = re.compile(r"template|jinja", re.IGNORECASE)
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
# What the chat template renderer itself is called with: a kwarg of the same name would
# replace the conversation, the tools or the renderer's own switches.
_RENDERER_ARGUMENTS = frozenset({
    "messages", "conversation", "tools", "documents", "add_generation_prompt",
    "continue_final_message", "tokenize", "tokenizer", "return_dict",
    "return_assistant_tokens_mask", "padding", "truncation", "max_length", "processor",
    "model_config",
})  # fmt: skip


def _refuse(name: str, message: str, *, code: str | None = None):
    return bad_request(f"`{name}` {message}", param=name, code=code)


# --- The whole body -------------------------------------------------------------------------


def body_wellformed(body: dict[str, Any]) -> None:
    """Every string, number and key of the body, iteratively (depth is bounded by the JSON
    reader already; recursion here would only add a second limit)."""
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            _text_check(path, value)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not -_INT64 <= value < _INT64:
                raise bad_request(f"`{path}` is an integer out of range.", param=path)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise bad_request(f"`{path}` must be a finite number.", param=path)
        elif isinstance(value, dict):
            for key, item in value.items():
                _text_check(f"{path}.{key}" if path else key, key)
                if key.lower() == "chat_template":
                    where = f"{path}.{key}" if path else key
                    raise bad_request(
                        f"`{where}` is not accepted: the worker's chat template is its own.",
                        param=where,
                        code="unsupported_parameter",
                    )
                stack.append((f"{path}.{key}" if path else key, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))


def _text_check(path: str, text: str) -> None:
    # ASCII without NUL, nearly every string, needs no encoding attempt (common/text.py).
    if text.isascii() and "\x00" not in text:
        return
    why = text_refusal(text)
    if why:
        raise bad_request(f"`{path or 'body'}`: {why}", param=path or None, code="invalid_text")


# --- Rules, one per kind of field -----------------------------------------------------------


def _bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise _refuse(name, "must be true or false.")


def _number(low: float | None = None, high: float | None = None) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refuse(name, "must be a number.")
        if (low is not None and value < low) or (high is not None and value > high):
            raise _refuse(name, f"must be between {low} and {high}.")

    return check


def _integer(low: int, high: int | None = None) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _refuse(name, "must be an integer.")
        if value < low:
            raise _refuse(name, f"must be at least {low}.")
        if high is not None and value > high:
            raise _refuse(name, f"may be at most {high} here.", code="limit_exceeded")

    return check


def _text(limit: int) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, str):
            raise _refuse(name, "must be a string.")
        if len(value) > limit:
            raise _refuse(name, f"may be at most {limit} characters.", code="limit_exceeded")

    return check


def _sized(name: str, value: Any, limit: int) -> None:
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > limit:
        message = f"takes {size} bytes; at most {limit} are accepted."
        raise _refuse(name, message, code="limit_exceeded")


def token_id_check(name: str, value: Any) -> None:
    """A token id the models can have: a vocabulary index, below AIPORTAL_API_VOCAB_SIZE.
    vLLM before 0.11 indexed its tensors with whatever id it was given."""
    vocab = settings.AIPORTAL_API_VOCAB_SIZE
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < vocab:
        raise _refuse(name, f"must hold token ids from 0 to {vocab - 1}.")


def _token_ids(limit: int) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, list):
            raise _refuse(name, "must be a list of token ids.")
        if len(value) > limit:
            raise _refuse(name, f"may hold at most {limit} token ids.", code="limit_exceeded")
        for item in value:
            token_id_check(name, item)

    return check


def _logit_bias(name: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise _refuse(name, "must be an object of token ids to biases.")
    if len(value) > MAX_LOGIT_BIAS:
        raise _refuse(name, f"may hold at most {MAX_LOGIT_BIAS} entries.", code="limit_exceeded")
    for key, bias in value.items():
        if not (key.isascii() and key.isdigit()) or len(key) > 9:
            raise _refuse(name, "keys must be token ids.")
        token_id_check(name, int(key))
        if isinstance(bias, bool) or not isinstance(bias, int | float) or not -100 <= bias <= 100:
            raise _refuse(name, "biases must be numbers from -100 to 100.")


def _stop(name: str, value: Any) -> None:
    """A string or a short list of strings. OpenAI takes 4; vLLM takes any number and checks
    each against the text after every token, so a long list slows the worker for everyone."""
    if isinstance(value, str):
        _text(MAX_WORD_CHARS)(name, value)
        return
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _refuse(name, "must be a string or a list of strings.")
    if len(value) > MAX_STOP:
        raise _refuse(name, f"may hold at most {MAX_STOP} sequences here.", code="limit_exceeded")
    for item in value:
        _text(MAX_WORD_CHARS)(name, item)


def _bad_words(name: str, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _refuse(name, "must be a list of strings.")
    if len(value) > MAX_BAD_WORDS:
        raise _refuse(name, f"may hold at most {MAX_BAD_WORDS} words.", code="limit_exceeded")
    for item in value:
        _text(MAX_WORD_CHARS)(name, item)


def _guide(kinds: tuple[type, ...]) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, kinds):
            raise _refuse(name, "has the wrong type.")
        _sized(name, value, MAX_GUIDE_BYTES)

    return check


def _guided_choice(name: str, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _refuse(name, "must be a list of strings.")
    if len(value) > MAX_CHOICES:
        raise _refuse(name, f"may hold at most {MAX_CHOICES} choices.", code="limit_exceeded")
    _sized(name, value, MAX_GUIDE_BYTES)


def _structured(name: str, value: Any) -> None:
    """``response_format`` and ``structured_outputs``: objects, sized, their choice lists
    bounded like ``guided_choice``."""
    if not isinstance(value, dict):
        raise _refuse(name, "must be an object.")
    _sized(name, value, MAX_GUIDE_BYTES)
    if name == "response_format" and value.get("type") not in (
        "text", "json_object", "json_schema", "structural_tag",
    ):  # fmt: skip
        raise _refuse(name, "`type` must be text, json_object, json_schema or structural_tag.")
    if isinstance(value.get("choice"), list):
        _guided_choice(f"{name}.choice", value["choice"])


def _template_kwargs(name: str, value: Any) -> None:
    """Switches for the worker's own chat template (``enable_thinking``, …): short names,
    plain values. Never a template (vLLM before 0.11 rendered a ``chat_template`` passed
    here), never one of the renderer's own arguments, never structure to render."""
    if not isinstance(value, dict):
        raise _refuse(name, "must be an object.")
    _sized(name, value, MAX_TEMPLATE_KWARGS_BYTES)
    for key, item in value.items():
        if _TEMPLATE_KEY.search(key) or key in _RENDERER_ARGUMENTS:
            raise bad_request(
                f"`{name}.{key}` is not accepted: the worker's chat template is its own.",
                param=f"{name}.{key}",
                code="unsupported_parameter",
            )
        if not _IDENTIFIER.fullmatch(key):
            raise _refuse(name, "keys must be short names of letters, digits and _.")
        if not (item is None or isinstance(item, bool | int | float | str)):
            raise _refuse(name, "values must be plain: true/false, numbers or strings.")


def _stream_options(name: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise _refuse(name, "must be an object.")
    for key, item in value.items():
        if key not in ("include_usage", "continuous_usage_stats"):
            raise _refuse(name, "takes only include_usage and continuous_usage_stats.")
        _bool(f"{name}.{key}", item)


def _tool_choice(name: str, value: Any) -> None:
    if isinstance(value, str):
        if value not in ("none", "auto", "required"):
            raise _refuse(name, "must be none, auto, required or an object.")
        return
    if not isinstance(value, dict):
        raise _refuse(name, "must be none, auto, required or an object.")
    _sized(name, value, settings.AIPORTAL_API_MAX_TOOLS_BYTES or 1024)


def _chat_logprobs(name: str, value: Any) -> None:
    _bool(name, value)


def _truncate(name: str, value: Any) -> None:
    """-1 (the model's whole context) or a positive count of prompt tokens to keep."""
    if isinstance(value, bool) or not isinstance(value, int) or (value < 1 and value != -1):
        raise _refuse(name, "must be -1 or a positive integer.")
    if value > 2**24:
        raise _refuse(name, "is larger than any model's context.", code="limit_exceeded")


def _text_format(name: str, value: Any) -> None:
    """The Responses API's ``text``: ``format`` (text, json_object or json_schema, sized
    like any schema) and ``verbosity``."""
    if not isinstance(value, dict):
        raise _refuse(name, "must be an object.")
    _sized(name, value, MAX_GUIDE_BYTES)
    for key in value:
        if key not in ("format", "verbosity"):
            raise _refuse(name, "takes only format and verbosity.")
    fmt = value.get("format")
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") not in _TEXT_FORMATS):
        raise _refuse(f"{name}.format", "`type` must be text, json_object or json_schema.")
    verbosity = value.get("verbosity")
    if verbosity is not None and verbosity not in ("low", "medium", "high"):
        raise _refuse(f"{name}.verbosity", "must be low, medium or high.")


def _reasoning(name: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise _refuse(name, "must be an object.")
    for key, item in value.items():
        if key not in ("effort", "summary", "generate_summary"):
            raise _refuse(name, "takes only effort, summary and generate_summary.")
        if item is not None:
            _text(16)(f"{name}.{key}", item)


def _include(name: str, value: Any) -> None:
    if not isinstance(value, list) or not all(
        isinstance(item, str) and item in _INCLUDE for item in value
    ):
        raise _refuse(name, f"must be a list of: {', '.join(sorted(_INCLUDE))}.")


def _one_of(*choices: str) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if value not in choices:
            raise _refuse(name, f"must be one of: {', '.join(choices)}.")

    return check


def _any(name: str, value: Any) -> None:
    """Checked elsewhere (validation.py): its shape depends on the endpoint."""


# /v1/responses: what vLLM 0.34's ResponsesRequest takes in ``include`` and ``text.format``.
_INCLUDE = frozenset({
    "code_interpreter_call.outputs", "computer_call_output.output.image_url",
    "file_search_call.results", "message.input_image.image_url",
    "message.output_text.logprobs", "reasoning.encrypted_content",
})  # fmt: skip
_TEXT_FORMATS = ("text", "json_object", "json_schema")
_SEED = _integer(-_INT64, _INT64 - 1)
_RULES: dict[str, Callable[[str, Any], None]] = {
    # Checked by validation.py, with the endpoint's context.
    "model": _any, "messages": _any, "prompt": _any, "input": _any, "tools": _any,
    "functions": _any, "n": _any, "best_of": _any, "max_tokens": _any,
    "max_completion_tokens": _any, "prompt_logprobs": _any, "top_logprobs": _any,
    "logprobs": _any, "encoding_format": _any, "dimensions": _integer(1, 65536),
    "stream": _bool, "stream_options": _stream_options,
    "temperature": _number(0, 100), "top_p": _number(0, 1), "top_k": _integer(-1, 2**20),
    "min_p": _number(0, 1), "presence_penalty": _number(-2, 2),
    "frequency_penalty": _number(-2, 2), "repetition_penalty": _number(0.01, 100),
    "length_penalty": _number(-100, 100), "min_tokens": _integer(0, 2**20), "seed": _SEED,
    "ignore_eos": _bool, "include_stop_str_in_output": _bool, "skip_special_tokens": _bool,
    "spaces_between_special_tokens": _bool, "use_beam_search": _bool,
    "return_tokens_as_token_ids": _bool, "add_special_tokens": _bool, "echo": _bool,
    "add_generation_prompt": _bool, "continue_final_message": _bool,
    "parallel_tool_calls": _bool,
    "stop": _stop, "stop_token_ids": _token_ids(MAX_STOP * 4),
    "allowed_token_ids": _token_ids(MAX_TOKEN_LIST), "bad_words": _bad_words,
    "logit_bias": _logit_bias, "truncate_prompt_tokens": _truncate,
    "response_format": _structured, "structured_outputs": _structured,
    "guided_json": _guide((dict, str)), "guided_regex": _guide((str,)),
    "guided_grammar": _guide((str,)), "guided_choice": _guided_choice,
    "guided_whitespace_pattern": _text(64),
    "tool_choice": _tool_choice, "function_call": _tool_choice,
    "reasoning_effort": _text(16), "suffix": _text(MAX_GUIDE_BYTES),
    "chat_template_kwargs": _template_kwargs,
    "prompt_cache_key": _text(MAX_CACHE_KEY_CHARS),
    # /v1/responses; ``input`` and ``max_output_tokens`` are validation.py's.
    "max_output_tokens": _any, "instructions": _text(2**24), "text": _text_format,
    "reasoning": _reasoning, "include": _include, "truncation": _one_of("auto", "disabled"),
    "max_tool_calls": _integer(1, 1024), "include_reasoning": _bool,
}  # fmt: skip


def fields_rules() -> frozenset[str]:
    """The fields that have a rule (the suite checks every forwarded one has)."""
    return frozenset(_RULES)


def fields_check(body: dict[str, Any], *, chat: bool) -> None:
    """Each present, non-null field against its rule. ``logprobs`` is a switch in chat and
    a count in completions."""
    for name, value in body.items():
        if value is None:
            continue
        if name == "logprobs":
            if chat:
                _chat_logprobs(name, value)
            continue
        rule = _RULES.get(name)
        if rule is None:  # validation.py forwards only reviewed fields; this is a bug
            raise _refuse(name, "is not reviewed for forwarding.", code="unknown_parameter")
        rule(name, value)
