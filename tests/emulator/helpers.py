"""Helpers for the emulator's tests: a reader that keeps a server-sent-events stream frame
by frame with arrival times, a /metrics scraper and /emulator/state polling."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

MODEL = "aiportal-emulator"
QUESTION = "What is a prefix cache, and why does it make the second turn faster?"
LABELS = f'engine="0",model_name="{MODEL}"'


def success_key(reason: str) -> str:
    """The sample name of vllm:request_success_total for one finished reason."""
    labels = f'engine="0",finished_reason="{reason}",model_name="{MODEL}"'
    return f"vllm:request_success_total{{{labels}}}"


def chat_body(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": QUESTION}], **extra}


@dataclass
class Stream:
    status: int
    headers: httpx.Headers
    frames: list[str] = field(default_factory=list)  # each frame's payload after "data: "
    times: list[float] = field(default_factory=list)  # monotonic arrival time of each frame
    sent_at: float = 0.0
    broken: Exception | None = None  # set when the body ended without completing

    @property
    def done(self) -> bool:
        return bool(self.frames) and self.frames[-1] == "[DONE]"

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [json.loads(f) for f in self.frames if f != "[DONE]"]

    @property
    def content_chunks(self) -> list[dict[str, Any]]:
        """Chunks with a choice that carries text (not the role chunk, not the usage one)."""
        out = []
        for obj in self.objects:
            choices = obj.get("choices") or []
            if choices and ("text" in choices[0] or "content" in choices[0].get("delta", {})):
                if choices[0].get("delta", {}).get("role"):
                    continue
                out.append(obj)
        return out

    @property
    def text(self) -> str:
        parts = []
        for obj in self.content_chunks:
            choice = obj["choices"][0]
            parts.append(choice["text"] if "text" in choice else choice["delta"]["content"])
        return "".join(parts)


async def read_stream(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    *,
    path: str = "/v1/chat/completions",
    headers: dict[str, str] | None = None,
) -> Stream:
    sent_at = time.monotonic()
    async with client.stream("POST", url + path, json=body, headers=headers) as response:
        stream = Stream(status=response.status_code, headers=response.headers, sent_at=sent_at)
        buffer = b""
        try:
            async for data in response.aiter_raw():
                buffer += data
                while b"\n\n" in buffer:
                    frame, buffer = buffer.split(b"\n\n", 1)
                    text = frame.decode()
                    assert text.startswith("data: "), f"not an SSE data frame: {text!r}"
                    stream.frames.append(text.removeprefix("data: "))
                    stream.times.append(time.monotonic())
        except httpx.RemoteProtocolError as exc:
            stream.broken = exc
        assert buffer == b"" or stream.broken, f"trailing bytes after the last frame: {buffer!r}"
    return stream


async def scrape(client: httpx.AsyncClient, url: str) -> dict[str, float]:
    """Every sample of /metrics as ``name{label="v",...}`` → value, labels sorted."""
    response = await client.get(url + "/metrics")
    assert response.status_code == 200
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


async def state(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await client.get(url + "/emulator/state")
    assert response.status_code == 200
    return response.json()


async def wait_for_state(
    client: httpx.AsyncClient,
    url: str,
    check: Callable[[dict[str, Any]], bool],
    timeout: float = 3.0,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        current = await state(client, url)
        if check(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"state never matched: {current}")
        await asyncio.sleep(0.01)
