"""The fidelity cases: one list of requests, played against the emulator by
tests/emulator/test_fidelity.py and against a real vLLM by bench/record_vllm.py.

Playing a case gives a *record*: the status, a few headers, and per frame kind the shape of
the body (key paths and value types, explicit nulls included; not ids, texts or times) plus
the exact values of the few paths the case names. Records of vLLM 0.34 live in
tests/emulator/fixtures/vllm-0.34/<case>.json, written from vLLM's source (each names the
files it is read from) and refreshable from a real server with bench/record_vllm.py;
``compare`` tells how the emulator's record differs from one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

# What a case may need from the server beyond a plain `vllm serve MODEL`, with the flag that
# gives it; bench/record_vllm.py plays a case only when told the server has its needs.
NEEDS = {
    "request-id-headers": "--enable-request-id-headers",
    "load-tracking": "--enable-server-load-tracking",
    "queue-limit": "--max-num-queued-reqs 1",
    "lora": "--enable-lora --lora-modules NAME=PATH (its NAME given to record_vllm.py)",
    "embedding-model": "an embedding model (--runner pooling), on its own server",
}

PRESENT = "<present>"  # a recorded header whose value is not compared


@dataclass(frozen=True)
class Target:
    """What a case's request is built from: the served model, its context, an adapter."""

    model: str
    max_model_len: int
    lora: str | None = None


Body = Callable[[Target], Any]


@dataclass(frozen=True)
class Case:
    name: str
    # The vLLM 0.34 source files the behaviour is read from (written into each fixture).
    source: tuple[str, ...]
    method: str = "POST"
    path: str = "/v1/chat/completions"
    body: Body | None = None
    # Sent as is instead of a JSON body (malformed JSON).
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Headers recorded besides content-type.
    record_headers: tuple[str, ...] = ()
    # Paths whose exact values are recorded, by frame kind ("body" for a whole JSON body).
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # "request"; "abort": leave a stream after its first content frame and record how the
    # finished-request counters moved; "busy": keep one stream open and record the answer to
    # a second request.
    action: str = "request"
    # For /metrics: the families recorded (name, type, label names).
    families: tuple[str, ...] = ()
    # The chunk after the role chunk is the echo of the final message.
    echo: bool = False
    needs: tuple[str, ...] = ()


def _chat(**extra: Any) -> Body:
    def body(t: Target) -> dict[str, Any]:
        messages = [{"role": "user", "content": "Name three rivers of Europe."}]
        return {"model": t.model, "messages": messages, "max_tokens": 8, **extra}

    return body


def _continuation(**extra: Any) -> Body:
    def body(t: Target) -> dict[str, Any]:
        messages = [
            {"role": "user", "content": "Name three rivers of Europe."},
            {"role": "assistant", "content": "The Danube, "},
        ]
        return {"model": t.model, "messages": messages, "max_tokens": 8, **extra}

    return body


def _completion(**extra: Any) -> Body:
    def body(t: Target) -> dict[str, Any]:
        return {"model": t.model, "prompt": "Three rivers of Europe are", "max_tokens": 8, **extra}

    return body


def _long(t: Target) -> str:
    # Comfortably more tokens than the context holds, with any tokenizer.
    return "river " * (t.max_model_len + 16)


CHAT_SERVING = "vllm/entrypoints/openai/chat_completion/serving.py"
CHAT_PROTOCOL = "vllm/entrypoints/openai/chat_completion/protocol.py"
CMPL_SERVING = "vllm/entrypoints/openai/completion/serving.py"
CMPL_PROTOCOL = "vllm/entrypoints/openai/completion/protocol.py"
ENGINE_PROTOCOL = "vllm/entrypoints/serve/engine/protocol.py"
ERRORS = "vllm/entrypoints/serve/exception_handling/error_response.py"
VALIDATION = "vllm/entrypoints/serve/exception_handling/handlers/validation.py"
API_UTILS = "vllm/entrypoints/serve/utils/api_utils.py"
CHAT_STREAM = (
    CHAT_SERVING,
    CHAT_PROTOCOL,
    ENGINE_PROTOCOL,
    "vllm/entrypoints/generate/base/protocol.py",
)
ERROR_VALUES: dict[str, tuple[str, ...]] = {"body": ("error.type", "error.code", "error.param")}
CHUNKS: dict[str, tuple[str, ...]] = {
    "finish": ("object", "choices.0.finish_reason"),
    "role": ("choices.0.delta.role",),
}

CASES: tuple[Case, ...] = (
    # --- chat ------------------------------------------------------------------------------
    Case(
        "chat",
        (
            CHAT_SERVING,
            CHAT_PROTOCOL,
            ENGINE_PROTOCOL,
            "vllm/entrypoints/openai/chat_completion/api_router.py",
        ),
        body=_chat(),
        values={"body": ("object", "choices.0.finish_reason", "choices.0.message.role")},
    ),
    Case("chat_stream", CHAT_STREAM, body=_chat(stream=True), values=CHUNKS),
    Case(
        "chat_stream_include_usage",
        CHAT_STREAM,
        body=_chat(stream=True, stream_options={"include_usage": True}),
        values={**CHUNKS, "usage": ("usage.completion_tokens",)},
    ),
    Case(
        "chat_stream_continuous_usage",
        (*CHAT_STREAM, API_UTILS),
        body=_chat(
            stream=True, stream_options={"include_usage": True, "continuous_usage_stats": True}
        ),
        values={**CHUNKS, "role": ("usage.completion_tokens",)},
    ),
    Case(
        "chat_stream_continuous_usage_alone",
        (*CHAT_STREAM, API_UTILS),
        body=_chat(stream=True, stream_options={"continuous_usage_stats": True}),
        values=CHUNKS,
    ),
    Case(
        "chat_request_id",
        (
            CHAT_SERVING,
            "vllm/entrypoints/serve/engine/serving.py",
            "vllm/entrypoints/serve/middleware/x_request_id.py",
        ),
        body=_chat(),
        headers={"X-Request-Id": "fidelity-42"},
        record_headers=("x-request-id",),
        values={"body": ("id",)},
        needs=("request-id-headers",),
    ),
    Case(
        "chat_orca_text",
        (CHAT_SERVING, "vllm/entrypoints/serve/utils/orca_metrics.py"),
        body=_chat(),
        headers={"endpoint-load-metrics-format": "text"},
        record_headers=("endpoint-load-metrics",),
    ),
    Case(
        "chat_orca_json",
        (CHAT_SERVING, "vllm/entrypoints/serve/utils/orca_metrics.py"),
        body=_chat(),
        headers={"endpoint-load-metrics-format": "json"},
        record_headers=("endpoint-load-metrics",),
    ),
    Case(
        "chat_stream_orca_header_absent",
        ("vllm/entrypoints/openai/chat_completion/api_router.py",),
        body=_chat(stream=True),
        headers={"endpoint-load-metrics-format": "text"},
        record_headers=("endpoint-load-metrics",),
    ),
    Case(
        "chat_max_tokens_clamped",
        (API_UTILS, CHAT_SERVING),
        body=lambda t: {**_chat()(t), "max_tokens": t.max_model_len},
        values={"body": ("object",)},
    ),
    Case(
        "chat_guided_json_ignored",
        (CHAT_PROTOCOL,),
        body=_chat(guided_json={"type": "object"}, guided_choice=["a", "b"]),
        values={"body": ("object",)},
    ),
    # --- chat continuation ---------------------------------------------------------------
    Case(
        "chat_continuation",
        (CHAT_SERVING, "vllm/entrypoints/chat_utils.py"),
        body=_continuation(continue_final_message=True, add_generation_prompt=False),
        values={"body": ("choices.0.message.role",)},
    ),
    Case(
        "chat_continuation_echo",
        (CHAT_SERVING,),
        body=_continuation(continue_final_message=True, add_generation_prompt=False, echo=True),
    ),
    Case(
        "chat_continuation_echo_stream",
        CHAT_STREAM,
        body=_continuation(
            continue_final_message=True, add_generation_prompt=False, echo=True, stream=True
        ),
        values={"echo": ("choices.0.delta.content",), **CHUNKS},
        echo=True,
    ),
    Case(
        "chat_continuation_both_flags",
        (CHAT_PROTOCOL, ERRORS, "vllm/exceptions.py"),
        body=_continuation(continue_final_message=True, add_generation_prompt=True),
        values={"body": ("error.type", "error.code", "error.param", "error.message")},
    ),
    # --- chat errors ---------------------------------------------------------------------
    Case(
        "chat_unknown_model",
        ("vllm/entrypoints/serve/engine/serving.py", ERRORS),
        body=lambda t: {**_chat()(t), "model": "no-such-model"},
        values=ERROR_VALUES,
    ),
    Case(
        "chat_unknown_model_stream",
        ("vllm/entrypoints/serve/engine/serving.py", ERRORS),
        body=lambda t: {**_chat(stream=True)(t), "model": "no-such-model"},
        values=ERROR_VALUES,
    ),
    Case(
        "chat_missing_messages",
        (VALIDATION,),
        body=lambda t: {"model": t.model},
        values=ERROR_VALUES,
    ),
    Case(
        "chat_bad_json",
        (VALIDATION,),
        raw=b'{"model": "x", "messages": [',
        values=ERROR_VALUES,
    ),
    Case(
        "chat_stream_options_without_stream",
        (CHAT_PROTOCOL, ERRORS),
        body=_chat(stream_options={"include_usage": True}),
        values=ERROR_VALUES,
    ),
    Case(
        "chat_context_too_long",
        ("vllm/renderers/params.py", ERRORS),
        body=lambda t: {**_chat()(t), "messages": [{"role": "user", "content": _long(t)}]},
        values=ERROR_VALUES,
    ),
    Case(
        "chat_stream_abort",
        ("vllm/v1/engine/output_processor.py", "vllm/v1/metrics/loggers.py"),
        body=lambda t: {**_chat(stream=True)(t), "max_tokens": 64},
        action="abort",
    ),
    Case(
        "chat_busy",
        ("vllm/v1/engine/async_llm.py", "vllm/exceptions.py", ERRORS),
        body=_chat(),
        action="busy",
        values=ERROR_VALUES,
        needs=("queue-limit",),
    ),
    Case(
        "chat_lora",
        ("vllm/entrypoints/serve/engine/serving.py",),
        body=lambda t: {**_chat()(t), "model": t.lora},
        values={"body": ("object",)},
        needs=("lora",),
    ),
    # --- completions -----------------------------------------------------------------------
    Case(
        "completion",
        (CMPL_SERVING, CMPL_PROTOCOL, ENGINE_PROTOCOL),
        path="/v1/completions",
        body=_completion(),
        values={"body": ("object", "choices.0.finish_reason")},
    ),
    Case(
        "completion_stream",
        (CMPL_SERVING, CMPL_PROTOCOL),
        path="/v1/completions",
        body=_completion(stream=True),
        values={"finish": ("object", "choices.0.finish_reason")},
    ),
    Case(
        "completion_stream_include_usage",
        (CMPL_SERVING, CMPL_PROTOCOL),
        path="/v1/completions",
        body=_completion(stream=True, stream_options={"include_usage": True}),
        values={"usage": ("usage.completion_tokens",)},
    ),
    Case(
        "completion_stream_continuous_usage",
        (CMPL_SERVING, CMPL_PROTOCOL, API_UTILS),
        path="/v1/completions",
        body=_completion(
            stream=True, stream_options={"include_usage": True, "continuous_usage_stats": True}
        ),
    ),
    Case(
        "completion_token_ids_prompt",
        (CMPL_SERVING,),
        path="/v1/completions",
        body=lambda t: {"model": t.model, "prompt": [1, 2, 3], "max_tokens": 4},
        values={"body": ("object",)},
    ),
    Case(
        "completion_unknown_model",
        ("vllm/entrypoints/serve/engine/serving.py", ERRORS),
        path="/v1/completions",
        body=lambda t: {**_completion()(t), "model": "no-such-model"},
        values=ERROR_VALUES,
    ),
    Case(
        "completion_context_too_long",
        ("vllm/renderers/params.py", ERRORS),
        path="/v1/completions",
        body=lambda t: {**_completion()(t), "prompt": _long(t)},
        values=ERROR_VALUES,
    ),
    Case(
        "completion_max_tokens_clamped",
        (API_UTILS, CMPL_SERVING),
        path="/v1/completions",
        body=lambda t: {**_completion()(t), "max_tokens": t.max_model_len},
        values={"body": ("object",)},
    ),
    # --- embeddings ------------------------------------------------------------------------
    Case(
        "embeddings",
        ("vllm/entrypoints/pooling/embed/protocol.py", "vllm/entrypoints/pooling/utils.py"),
        path="/v1/embeddings",
        body=lambda t: {"model": t.model, "input": ["a river", "a mountain"]},
        values={"body": ("object", "data.0.object")},
        needs=("embedding-model",),
    ),
    Case(
        "embeddings_base64",
        ("vllm/entrypoints/pooling/embed/protocol.py",),
        path="/v1/embeddings",
        body=lambda t: {"model": t.model, "input": "a river", "encoding_format": "base64"},
        needs=("embedding-model",),
    ),
    # --- the other endpoints ---------------------------------------------------------------
    Case(
        "models",
        ("vllm/entrypoints/openai/models/serving.py", ENGINE_PROTOCOL),
        method="GET",
        path="/v1/models",
        values={"body": ("object", "data.0.object", "data.0.owned_by", "data.0.parent")},
    ),
    Case(
        "models_with_lora",
        ("vllm/entrypoints/openai/models/serving.py", ENGINE_PROTOCOL),
        method="GET",
        path="/v1/models",
        needs=("lora",),
    ),
    Case(
        "tokenize_prompt",
        ("vllm/entrypoints/serve/tokenize/protocol.py",),
        path="/tokenize",
        body=lambda t: {"model": t.model, "prompt": "Three rivers of Europe"},
    ),
    Case(
        "tokenize_messages",
        ("vllm/entrypoints/serve/tokenize/protocol.py",),
        path="/tokenize",
        body=lambda t: {
            "model": t.model,
            "messages": [{"role": "user", "content": "Name three rivers."}],
        },
    ),
    Case(
        "health",
        ("vllm/entrypoints/serve/instrumentator/health.py",),
        method="GET",
        path="/health",
    ),
    Case(
        "ping_get",
        ("vllm/entrypoints/serve/sagemaker/api_router.py",),
        method="GET",
        path="/ping",
    ),
    Case(
        "ping_post",
        ("vllm/entrypoints/serve/sagemaker/api_router.py",),
        path="/ping",
    ),
    Case(
        "version",
        ("vllm/entrypoints/serve/instrumentator/basic.py",),
        method="GET",
        path="/version",
        values={"body": ("version",)},
    ),
    Case(
        "load",
        ("vllm/entrypoints/serve/instrumentator/basic.py", API_UTILS),
        method="GET",
        path="/load",
        values={"body": ("server_load",)},
    ),
    Case(
        "load_tracked",
        ("vllm/entrypoints/serve/instrumentator/basic.py", API_UTILS),
        method="GET",
        path="/load",
        needs=("load-tracking",),
    ),
    Case(
        "unknown_route",
        ("fastapi (its default 404 handler, which vLLM keeps)",),
        method="GET",
        path="/v1/no-such-route",
        values={"body": ("detail",)},
    ),
    Case(
        "metrics",
        ("vllm/v1/metrics/loggers.py",),
        method="GET",
        path="/metrics",
        families=(
            "vllm:num_requests_running",
            "vllm:num_requests_waiting",
            "vllm:num_requests_waiting_by_reason",
            "vllm:kv_cache_usage_perc",
            "vllm:prefix_cache_queries",
            "vllm:prefix_cache_hits",
            "vllm:prompt_tokens",
            "vllm:generation_tokens",
            "vllm:request_success",
            "vllm:time_to_first_token_seconds",
            "vllm:inter_token_latency_seconds",
            "vllm:request_time_per_output_token_seconds",
            "vllm:e2e_request_latency_seconds",
            "vllm:request_queue_time_seconds",
            "vllm:admission_rejections",
        ),
    ),
    Case(
        "metrics_lora",
        ("vllm/v1/metrics/loggers.py",),
        method="GET",
        path="/metrics",
        families=("vllm:lora_requests_info",),
        needs=("lora",),
    ),
)

CASES_BY_NAME = {case.name: case for case in CASES}


# --- shapes ---------------------------------------------------------------------------------


def shape(value: Any) -> Any:
    """A value's shape: type names for scalars ("null" for an explicit null), the same for
    each key of an object, and for a list the distinct shapes of its items."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        distinct: list[Any] = []
        for item in value:
            item_shape = shape(item)
            if item_shape not in distinct:
                distinct.append(item_shape)
        return distinct
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    return type(value).__name__


def value_at(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return "<absent>"
    return data


def frame_kind(frame: Any, case: Case, kinds: list[str]) -> str:
    if frame == "[DONE]":
        return "[DONE]"
    if not isinstance(frame, dict):
        return "text"
    if "error" in frame:
        return "error"
    choices = frame.get("choices")
    if choices == []:
        return "usage"
    choice = choices[0] if isinstance(choices, list) and choices else {}
    if choice.get("finish_reason") is not None:
        return "finish"
    if "role" in (choice.get("delta") or {}):
        return "role"
    if case.echo and kinds[-1:] == ["role"]:
        return "echo"
    return "content"


def runs(kinds: list[str]) -> list[str]:
    """The sequence of frame kinds with each run of one kind written once, "+" if repeated."""
    out: list[str] = []
    for kind in kinds:
        if out and out[-1].rstrip("+") == kind:
            out[-1] = kind + "+"
        else:
            out.append(kind)
    return out


def _sse_frames(text: str) -> list[Any]:
    frames = []
    for block in text.split("\n\n"):
        data = [line[5:].strip() for line in block.splitlines() if line.startswith("data:")]
        if not data:
            continue
        payload = "\n".join(data)
        frames.append("[DONE]" if payload == "[DONE]" else json.loads(payload))
    return frames


def _json_record(data: Any, paths: tuple[str, ...]) -> dict[str, Any]:
    return {"shape": shape(data), "values": {p: value_at(data, p) for p in paths}}


def _header_record(name: str, value: str | None) -> Any:
    if value is None:
        return None
    if name == "content-type":
        # Without the exposition format's version, which follows the prometheus_client
        # installed, not vLLM.
        params = [p.strip() for p in value.split(";")]
        return "; ".join(p for p in params if not p.startswith("version="))
    if name == "endpoint-load-metrics":
        # "TEXT named_metrics.a=1.0, …" or "JSON {"named_metrics": {…}}": the format and names.
        fmt, _, rest = value.partition(" ")
        if fmt == "JSON":
            names = sorted(json.loads(rest).get("named_metrics", {}))
        else:
            names = sorted({item.split("=")[0].strip() for item in rest.split(",") if item.strip()})
        return {"format": fmt, "names": names}
    return PRESENT


def body_record(case: Case, content_type: str, text: str) -> dict[str, Any]:
    """The recorded body: its kind and, per frame kind, shapes and the case's values."""
    media = content_type.split(";")[0].strip()
    if case.families:
        families = {}
        for family in text_string_to_metric_families(text):
            if family.name in case.families:
                labels = sorted({k for s in family.samples for k in s.labels if k != "le"})
                families[family.name] = {"type": family.type, "labels": labels}
        return {"kind": "metrics", "families": families}
    if media == "text/event-stream":
        frames = _sse_frames(text)
        kinds: list[str] = []
        per_kind: dict[str, Any] = {}
        for frame in frames:
            kind = frame_kind(frame, case, kinds)
            kinds.append(kind)
            if kind not in per_kind and kind != "[DONE]":
                per_kind[kind] = _json_record(frame, case.values.get(kind, ()))
        return {"kind": "sse", "sequence": runs(kinds), "frames": per_kind}
    if not text:
        return {"kind": "empty"}
    if media == "application/json":
        return {"kind": "json", **_json_record(json.loads(text), case.values.get("body", ()))}
    return {"kind": "text"}


# --- playing a case -------------------------------------------------------------------------


async def target_of(session: aiohttp.ClientSession, url: str, lora: str | None) -> Target:
    async with session.get(url + "/v1/models") as response:
        card = (await response.json())["data"][0]
    return Target(model=card["id"], max_model_len=card["max_model_len"], lora=lora)


async def _send(
    session: aiohttp.ClientSession, url: str, case: Case, target: Target
) -> aiohttp.ClientResponse:
    headers = dict(case.headers)
    kwargs: dict[str, Any] = {"headers": headers}
    if case.raw is not None:
        headers["Content-Type"] = "application/json"
        kwargs["data"] = case.raw
    elif case.body is not None:
        kwargs["json"] = case.body(target)
    return await session.request(case.method, url + case.path, **kwargs)


async def _success_counts(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with session.get(url + "/metrics") as response:
        text = await response.text()
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "vllm:request_success":
            for sample in family.samples:
                reason = sample.labels.get("finished_reason", "")
                counts[reason] = counts.get(reason, 0.0) + sample.value
    return counts


async def _abort(session: aiohttp.ClientSession, url: str, case: Case, target: Target) -> Any:
    before = await _success_counts(session, url)
    response = await _send(session, url, case, target)
    status = response.status
    async for line in response.content:
        if line.startswith(b"data:") and b'"content"' in line and b'"role"' not in line:
            break
    response.close()  # leave mid-answer
    await asyncio.sleep(1.0)
    after = await _success_counts(session, url)
    moved = {reason: after.get(reason, 0.0) - before.get(reason, 0.0) for reason in after}
    return {
        "status": status,
        "headers": {},
        "body": {"kind": "finished", "moved": {k: v for k, v in moved.items() if v}},
    }


async def play(
    session: aiohttp.ClientSession, url: str, case: Case, target: Target
) -> dict[str, Any]:
    """Play one case against the server at ``url``; returns its record."""
    if case.action == "abort":
        return await _abort(session, url, case, target)
    blocker = None
    if case.action == "busy":
        # One long stream holds the only place the queue has (--max-num-queued-reqs 1).
        hold = {**(case.body(target) if case.body else {}), "stream": True, "max_tokens": 4096}
        hold["ignore_eos"] = True
        blocker = await session.post(url + case.path, json=hold)
        await blocker.content.readline()
    try:
        response = await _send(session, url, case, target)
        async with response:
            text = await response.text()
    finally:
        if blocker is not None:
            blocker.close()
    content_type = response.headers.get("Content-Type", "")
    names = ("content-type", *case.record_headers)
    return {
        "status": response.status,
        "headers": {name: _header_record(name, response.headers.get(name)) for name in names},
        "body": body_record(case, content_type, text),
    }


def fixture(case: Case, record: dict[str, Any], recorded_from: str) -> dict[str, Any]:
    return {
        "case": case.name,
        "vllm_version": "0.34.0",
        "recorded_from": recorded_from,
        "source": list(case.source),
        "needs": [NEEDS[need] for need in case.needs],
        **record,
    }


# --- comparing ------------------------------------------------------------------------------


def compare_shapes(expected: Any, actual: Any, path: str = "$") -> list[str]:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: an object expected, got {actual}"]
        problems = [f"{path}.{key}: missing" for key in expected if key not in actual]
        problems += [f"{path}.{key}: not in vLLM's shape" for key in actual if key not in expected]
        for key in expected:
            if key in actual:
                problems += compare_shapes(expected[key], actual[key], f"{path}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: a list expected, got {actual}"]
        problems = []
        for item in actual:
            if expected and not any(not compare_shapes(e, item) for e in expected):
                problems.append(f"{path}[]: {item} matches no item shape of {expected}")
        return problems
    if expected != actual:
        return [f"{path}: {expected} expected, got {actual}"]
    return []


def _compare_json(expected: dict[str, Any], actual: dict[str, Any], where: str) -> list[str]:
    problems = compare_shapes(expected["shape"], actual["shape"], where)
    for path, value in expected.get("values", {}).items():
        got = actual.get("values", {}).get(path, "<not recorded>")
        if got != value:
            problems.append(f"{where} {path}: {value!r} expected, got {got!r}")
    return problems


def compare(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """How ``actual`` (a record) departs from ``expected`` (a fixture); [] when faithful."""
    problems = []
    if expected["status"] != actual["status"]:
        problems.append(f"status: {expected['status']} expected, got {actual['status']}")
    for name, value in expected.get("headers", {}).items():
        got = actual.get("headers", {}).get(name)
        if value != got:
            problems.append(f"header {name}: {value!r} expected, got {got!r}")
    body, got_body = expected["body"], actual["body"]
    if body["kind"] != got_body["kind"]:
        return [*problems, f"body: {body['kind']} expected, got {got_body['kind']}"]
    if body["kind"] == "json":
        problems += _compare_json(body, got_body, "$")
    elif body["kind"] == "sse":
        if body["sequence"] != got_body["sequence"]:
            problems.append(f"frames: {body['sequence']} expected, got {got_body['sequence']}")
        for kind, frame in body["frames"].items():
            if kind in got_body["frames"]:
                problems += _compare_json(frame, got_body["frames"][kind], f"<{kind}>")
    elif body["kind"] == "metrics":
        for name, family in body["families"].items():
            got = got_body["families"].get(name)
            if got != family:
                problems.append(f"metric {name}: {family} expected, got {got}")
    elif body["kind"] == "finished" and body["moved"] != got_body["moved"]:
        problems.append(f"finished counters: {body['moved']} expected, got {got_body['moved']}")
    return problems
