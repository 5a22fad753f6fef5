"""One answer from several upstream streams: what the client sees when a worker dies mid-answer.

The proxy asks every worker for ``stream_options: {include_usage, continuous_usage_stats}``
so each chunk says exactly how many tokens were generated so far and how long the prompt
was; when a stream breaks, the answer goes on from the partial text on another worker:

- chat: the partial text becomes a final assistant message, sent with
  ``continue_final_message: true, add_generation_prompt: false`` (vLLM continues that
  message instead of starting a new one), right-trimmed because chat templates strip it
  anyway, never with ``echo`` (vLLM would send the partial again); the whitespace the worker
  did not read is stitched back at the seam (``_past_seam``). A worker that refuses the
  continuation is asked through /v1/completions instead (gateway/continuation_render.py);
- ``/v1/completions``: the partial text is appended to the prompt;
- ``max_tokens`` (and ``max_completion_tokens``) shrink by what was already generated.

``Stitcher`` turns the parts' frames into one stream: the first part's ``id``, ``created``
and ``model`` on every frame, no second role delta, and usage that counts the original
prompt once and the completion tokens of all parts. A stream is only continued while it is
plain text in one choice: tool-call deltas or several choices cannot be resumed faithfully.
A part that ends with finish_reason "abort" (the engine gave up) is continued too; its end
is never passed on.

A reasoning model's thinking (``delta.reasoning``, vLLM 0.34; ``reasoning_content`` before)
is relayed as it comes and kept apart from the answer text. The client sees one thinking,
then the answer (docs/gateway/proxy.md, "Reasoning models"):

- died after the answer began: the final assistant message carries the thinking as
  ``reasoning`` next to the partial answer, so the worker's template renders the thinking
  before the answer and the worker writes the rest of the answer;
- died while thinking: vLLM's chat API cannot continue an open thinking (a continued final
  message is answer text, and templates close the thinking around it), so the next worker is
  asked the question afresh; the client keeps the thinking it saw, and of the new part only
  the answer is relayed;
- a continuation's own thinking is never relayed: the client already has its one.
"""

from __future__ import annotations

from typing import Any

_IDENTITY = ("id", "created", "model", "system_fingerprint")
# A delta's thinking: vLLM 0.34 names it "reasoning", earlier versions "reasoning_content".
_THINKING = ("reasoning", "reasoning_content")
# vLLM 0.34's finish reasons (vllm/v1/engine/__init__.py): "stop", "length" and "repetition"
# end an answer (repetition: the engine cut a looping answer short, which is its end);
# "abort" is the engine giving up on it (shutdown, a failed KV transfer), continued like a
# dead stream; "error" never reaches a client as a finish reason (vLLM sends an error frame).
ABORTED = frozenset({"abort"})


def cached_tokens_of(usage: Any) -> int | None:
    """``usage.prompt_tokens_details.cached_tokens``: None when the worker did not say (vLLM
    fills it only with --enable-prompt-tokens-details)."""
    details = usage.get("prompt_tokens_details") if isinstance(usage, dict) else None
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return cached if isinstance(cached, int) and not isinstance(cached, bool) else None


class Stitcher:
    def __init__(self, *, endpoint: str, body: dict[str, Any]) -> None:
        self.chat = endpoint == "chat/completions"
        options = body.get("stream_options") or {}
        # What the client asked for; upstream always gets both (see the module docstring).
        self.client_usage = bool(options.get("include_usage"))
        self.client_continuous = bool(options.get("continuous_usage_stats"))
        self.body = {
            **body,
            "stream": True,
            "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        }  # the upstream body of the first part
        self.text: list[str] = []  # the answer the client has received, all parts
        self.thought: list[str] = []  # the thinking the client has received (reasoning)
        # This part asks afresh after a worker died while thinking: its thinking is dropped.
        self.rethinking = False
        self.identity: dict[str, Any] | None = None
        self.part = 0
        self.prompt_tokens: int | None = None
        # The first part's usage.prompt_tokens_details (cached_tokens: its prompt's prefix-cache
        # hits), passed on in the answer's usage; None when the worker sends none.
        self.prompt_details: dict[str, Any] | None = None
        self.tokens_before = 0  # completion tokens of the finished parts
        self.tokens_now = 0  # … of this part, from its usage
        self.counted_now = 0  # … of this part, counted from text frames (if no usage came)
        # A reasoning worker's usage.completion_tokens_details.reasoning_tokens: of the
        # finished parts, of this one (None until a worker reports it).
        self.reasoning_before = 0
        self.reasoning_now: int | None = None
        self.finish_reason: str | None = None
        self.usage_sent = False
        self.continuable = True
        self.aborted = False  # this part ended with finish_reason "abort"
        # The whitespace at the end of the partial that the next part's worker does not read
        # (None: no seam to stitch, this part's text goes out as it comes).
        self.seam: str | None = None
        # The final assistant message's whole text, untrimmed, as of the last next_body().
        self.final_text = ""
        # What vLLM sends first when the client asked for ``echo``: not part of the answer.
        self.echoed = _echo_text(body) if self.chat else ""
        # A client continuing its own final message (the chat's "continue"): the same seam as
        # a failover's, from the first part on. None: nothing was trimmed.
        self.client_final: str | None = None
        if self.chat and body.get("continue_final_message"):
            self._trim_client_final()

    def _trim_client_final(self) -> None:
        """Chat templates strip the final message's trailing whitespace, so the worker's
        continuation would repeat or drop it: send the message trimmed and stitch the seam,
        as next_body() does for a partial of our own."""
        messages = list(self.body.get("messages") or [])
        last = messages[-1] if messages else None
        if not (isinstance(last, dict) and last.get("role") == "assistant"):
            return
        content = last.get("content")
        if not isinstance(content, str) or content == content.rstrip():
            return
        trimmed = content.rstrip()
        self.client_final, self.seam = content, content[len(trimmed) :]
        messages[-1] = {**last, "content": trimmed}
        self.body["messages"] = messages

    @property
    def started(self) -> bool:
        """A frame has reached the client: from now on, only a continuation can help."""
        return self.identity is not None

    # -- frames -----------------------------------------------------------------------------

    def take(self, frame: dict[str, Any]) -> dict[str, Any] | None:
        """The frame to send on for one upstream frame, or None to drop it."""
        usage = frame.get("usage") if self.client_continuous else frame.pop("usage", None)
        if usage:
            self.tokens_now = int(usage.get("completion_tokens") or 0)
            details = usage.get("completion_tokens_details")
            if isinstance(details, dict) and isinstance(details.get("reasoning_tokens"), int):
                self.reasoning_now = details["reasoning_tokens"]
            if self.part == 0 and self.prompt_tokens is None:
                self.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            if self.part == 0 and isinstance(usage.get("prompt_tokens_details"), dict):
                self.prompt_details = usage["prompt_tokens_details"]
            elif self.prompt_tokens is None:
                # The first part never said: its prompt is this one minus the partial answer.
                prompt = int(usage.get("prompt_tokens") or 0)
                self.prompt_tokens = max(0, prompt - self.tokens_before)
        choices = frame.get("choices")
        if not choices:
            if not usage or not self.client_usage or self.aborted:
                return None
            self.usage_sent = True
            frame["usage"] = self.usage()
            return self._stamp(frame)
        if len(choices) > 1:
            self.continuable = False
        for choice in choices:
            if self.chat:
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if delta.get("tool_calls") or delta.get("function_call"):
                    self.continuable = False
                if self._thinking(delta, counted=bool(usage)):
                    idle = not text and not choice.get("finish_reason") and not delta
                    if idle and not (self.client_continuous and usage):
                        return None  # a continuation's thinking, which the client never sees
                if self.part and "role" in delta:
                    del delta["role"]  # the client has had its one role delta
                    empty = not text and not choice.get("finish_reason") and len(delta) <= 1
                    if empty and not (self.client_continuous and usage):
                        return None
            else:
                text = choice.get("text")
            if text and self.chat and self.seam is not None:
                text = self._past_seam(text)
                delta["content"] = text
                idle = not text and not choice.get("finish_reason")
                if idle and not (self.client_continuous and usage):
                    return None  # all of it was whitespace the client already has
            if text:
                self.text.append(text)
                if not usage:
                    self.counted_now += 1
            if choice.get("finish_reason") in ABORTED:
                # The engine gave up on the answer, not the answer ended: another worker
                # continues it (gateway/proxy.py), so the client never sees this end.
                self.aborted = True
                choice["finish_reason"] = None
                if not text:
                    return None
            elif choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if self.client_continuous and usage:
            frame["usage"] = self.usage()
        return self._stamp(frame)

    def _thinking(self, delta: dict[str, Any], *, counted: bool) -> bool:
        """Keep the client's thinking from a delta; True when thinking was dropped from it
        (a continuation's own: the client has had its one thinking)."""
        dropped = False
        for key in _THINKING:
            thought = delta.get(key)
            if not thought:
                continue
            if self.part and (self.rethinking or self.text):
                del delta[key]
                dropped = True
                continue
            self.thought.append(thought)
            if not counted:
                self.counted_now += 1
        return dropped

    @property
    def renderable(self) -> bool:
        """The answer may be continued through /v1/completions (continuation_render.py):
        not a reasoning model's, whose raw completion would mix thinking into the answer."""
        return not self.thought

    def _past_seam(self, text: str) -> str:
        """The continuation's text after the seam. The worker read the partial without its
        trailing whitespace (chat templates strip it), which the client already has: when
        the continuation begins with that whitespace, it is not sent twice; when it begins
        with other whitespace, the client's stays and the continuation's goes; when it
        begins with text, the client's whitespace stands where the worker's would be."""
        seam = self.seam or ""
        if not seam:  # the continuation's whitespace differed: drop all of it
            rest = text.lstrip()
            if rest:
                self.seam = None
            return rest
        if text.startswith(seam):
            self.seam = None
            return text[len(seam) :]
        if seam.startswith(text):
            self.seam = seam[len(text) :] or None  # the whitespace arrives in pieces
            return ""
        if not text[0].isspace():
            self.seam = None
            return text
        self.seam = ""
        return self._past_seam(text)

    def _stamp(self, frame: dict[str, Any]) -> dict[str, Any]:
        if self.identity is None:
            self.identity = {key: frame[key] for key in _IDENTITY if key in frame}
        elif self.part:
            frame.update(self.identity)
        return frame

    @property
    def completion_tokens(self) -> int:
        # Read for every frame relayed (gateway/proxy.py): no dict built per token.
        return self.tokens_before + (self.tokens_now or self.counted_now)

    @property
    def cached_tokens(self) -> int | None:
        """Prompt tokens the first worker served from its prefix cache, if it said."""
        return cached_tokens_of({"prompt_tokens_details": self.prompt_details})

    def usage(self) -> dict[str, Any]:
        prompt = self.prompt_tokens or 0
        completion = self.completion_tokens
        totals: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if self.prompt_details is not None:
            totals["prompt_tokens_details"] = dict(self.prompt_details)
        if self.reasoning_now is not None or self.reasoning_before:
            # All parts' thinking, as the worker's usage would have it (vLLM 0.34).
            reasoning = self.reasoning_before + (self.reasoning_now or 0)
            totals["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        return totals

    # -- the next part ----------------------------------------------------------------------

    def part_end(self) -> None:
        """The current upstream stream broke: close its books before the next part."""
        self.tokens_before += self.tokens_now or self.counted_now
        self.tokens_now = self.counted_now = 0
        self.reasoning_before += self.reasoning_now or 0
        self.reasoning_now = None
        self.part += 1
        self.aborted = False

    def read_whole(self) -> None:
        """The next part's worker reads the partial exactly (a rendered continuation through
        /v1/completions, gateway/continuation_render.py): no seam to stitch."""
        self.seam = None

    def remaining_tokens(self) -> int | None:
        """What is left of max_tokens; None when the request set no limit."""
        limits = [
            self.body[key]
            for key in ("max_completion_tokens", "max_tokens")
            if isinstance(self.body.get(key), int)
        ]
        return None if not limits else limits[0] - self.tokens_before

    def next_body(self) -> dict[str, Any] | None:
        """The upstream body that continues the answer, or None when it cannot be continued."""
        if not self.continuable:
            return None
        partial = "".join(self.text)
        if self.echoed and partial.startswith(self.echoed):
            partial = partial[len(self.echoed) :]
        thought = "".join(self.thought)
        body = dict(self.body)
        if self.chat and thought and not partial:
            # Died while thinking: ask afresh (see the module docstring).
            self.rethinking = True
        elif partial and self.chat:
            messages = list(body.get("messages") or [])
            last = messages[-1] if messages else None
            final: dict[str, Any] = {"role": "assistant"}
            if (
                body.get("continue_final_message")
                and isinstance(last, dict)
                and last.get("role") == "assistant"
                and isinstance(last.get("content"), str)
            ):
                # The client was itself continuing a message: extend it.
                whole = last["content"] if self.client_final is None else self.client_final
                final, partial = messages.pop(), whole + partial
            # Chat templates strip the final message's trailing whitespace (some refuse a
            # message they would have to alter): send it without, and stitch the seam.
            content = partial.rstrip()
            self.seam = partial[len(content) :] or None
            self.final_text = partial
            if thought:
                # vLLM 0.34's field (reasoning_content is renamed to it): the template
                # renders it before the answer being continued.
                final = {**final, "reasoning": thought}
            messages.append({**final, "content": content})
            body["messages"] = messages
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
            # vLLM echoes the final message of a continuation: the client would get its
            # partial answer twice.
            body.pop("echo", None)
        elif partial:
            prompt = body.get("prompt")
            if isinstance(prompt, str):
                body["prompt"] = prompt + partial
            elif isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
                body["prompt"] = [prompt[0] + partial]
            else:
                return None  # token ids: the partial text has no ids to append
            body.pop("echo", None)  # the prompt was echoed already, if asked
        for key in ("max_completion_tokens", "max_tokens"):
            if isinstance(body.get(key), int):
                body[key] = max(1, body[key] - self.tokens_before)
        return body

    def closing_frames(self, finish_reason: str | None) -> list[dict[str, Any]]:
        """Frames that end the answer without another worker: after the last token arrived
        but the stream broke before its end, or when max_tokens is already used up."""
        frames: list[dict[str, Any]] = []
        identity = self.identity or {}
        if self.finish_reason is None:
            self.finish_reason = finish_reason
            choice: dict[str, Any] = {"index": 0, "logprobs": None}
            if self.chat:
                choice["delta"] = {"content": ""}
            else:
                choice["text"] = ""
            choice["finish_reason"] = finish_reason
            frames.append({**identity, "object": self._object(), "choices": [choice]})
            if self.client_continuous:
                frames[-1]["usage"] = self.usage()
        if self.client_usage and not self.usage_sent:
            self.usage_sent = True
            frames.append(
                {**identity, "object": self._object(), "choices": [], "usage": self.usage()}
            )
        return frames

    def _object(self) -> str:
        return "chat.completion.chunk" if self.chat else "text_completion"


def _echo_text(body: dict[str, Any]) -> str:
    """The text vLLM's chat ``echo`` sends before the answer: the final message's, when it
    has the answer's role (the assistant's with a generation prompt, its own without)."""
    messages = body.get("messages")
    if not body.get("echo") or not isinstance(messages, list) or not messages:
        return ""
    last = messages[-1]
    if not isinstance(last, dict) or not isinstance(last.get("content"), str):
        return ""
    if body.get("add_generation_prompt") is not False and last.get("role") != "assistant":
        return ""
    content: str = last["content"]
    return content
