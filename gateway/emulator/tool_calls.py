"""Tool calls, as vLLM 0.34 returns them when a request offers ``tools``.

Whether to call: with ``tool_choice`` "auto" (the default when tools are given) the demo calls
the tool whose name and description share words with the last user message, and answers in
text when none does or when the last message is a tool's result; "required" and a named
function always call. The arguments are filled from the prompt so that they are valid for
the tool's JSON-schema ``parameters`` (``arguments_for``).

What the model writes, and how the server turns it into the wire format (read in vLLM 0.34,
never copied):

- "auto" goes through the ``--tool-call-parser``; the emulator's is ``hermes``
  (vllm/tool_parsers/hermes_tool_parser.py): the model writes ``<tool_call>{"name": …,
  "arguments": {…}}</tool_call>``; a stream announces each call once its name is complete
  (``id``, ``type``, ``index``, ``function.name``, with ``"content": null`` in the delta),
  then sends argument fragments; the final message has ``content: null``.
- a named ``tool_choice`` is decoded as the arguments' JSON alone
  (vllm/tool_parsers/streaming.py ``extract_named_tool_call_streaming``): the first delta
  carries id, name and the first fragment of the arguments; the answer ends with "stop".
- "required" is decoded as a JSON array of ``{"name", "parameters"}``
  (``extract_required_tool_call_streaming``): later fragments carry ``"name": null``.
- ids are ``chatcmpl-tool-`` and 16 hex digits (vllm/renderers/chat_utils/tool_call.py);
  ``finish_reason`` is "tool_calls" unless the tool was named or the answer was cut
  (vllm/entrypoints/serve/utils/tool_calls_utils.py ``resolve_finish_reason``).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from .demo_prompt import STOPWORDS, key_phrases, messages_of, topic_of

Style = Literal["hermes", "named", "required"]
PARSERS = ("hermes",)
MAX_PARALLEL = 3

_PLACE_NAMES = ("city", "location", "place", "country", "region", "address", "destination",
                "town", "where")  # fmt: skip
_TEXT_NAMES = ("query", "q", "search", "text", "topic", "prompt", "question", "keywords",
               "term", "terms", "subject", "input", "message", "content")  # fmt: skip


def tool_call_id() -> str:
    return f"chatcmpl-tool-{uuid.uuid4().int & (2**64 - 1):016x}"


@dataclass
class Call:
    name: str
    arguments: str  # JSON text
    id: str = field(default_factory=tool_call_id)
    # Offsets in the generated text: the call is announced once ``ready`` characters are
    # out; its arguments are text[args_start:args_end].
    ready: int = 0
    args_start: int = 0
    args_end: int = 0


@dataclass
class ToolPlan:
    """The tool calls one answer makes: the text the model generates, and where each call
    sits in it, so a stream can say what each chunk adds."""

    style: Style
    text: str
    calls: list[Call]

    def delta(self, start: int, end: int) -> dict[str, Any] | None:
        """The ``delta`` of a chunk that releases text[start:end], or None when the parser
        has nothing to send for it yet."""
        entries: list[dict[str, Any]] = []
        for index, call in enumerate(self.calls):
            if end < call.ready or end <= start:
                break
            new_args = self.text[max(start, call.args_start) : min(end, call.args_end)]
            if start >= call.ready:  # announced by an earlier chunk
                if new_args:
                    function: dict[str, Any] = {"arguments": new_args}
                    if self.style == "required":
                        function = {"name": None, "arguments": new_args}
                    entries.append({"index": index, "function": function})
                continue
            head: dict[str, Any] = {"id": call.id, "type": "function", "index": index}
            so_far = self.text[call.args_start : min(end, call.args_end)]
            if self.style == "hermes":
                entries.append({**head, "function": {"name": call.name}})
                if so_far:
                    entries.append({"index": index, "function": {"arguments": so_far}})
            else:
                entries.append({**head, "function": {"name": call.name, "arguments": so_far}})
        if not entries:
            return None
        if self.style == "hermes":
            return {"content": None, "tool_calls": entries}
        return {"tool_calls": entries}

    def message_tool_calls(self) -> list[dict[str, Any]]:
        return [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in self.calls
        ]

    @property
    def content(self) -> str | None:
        """The final message's content: null after the hermes parser, "" when forced."""
        return None if self.style == "hermes" else ""

    def finish_reason(self, engine_reason: str) -> str:
        if engine_reason == "stop" and self.style != "named":
            return "tool_calls"
        return engine_reason


# --- deciding ------------------------------------------------------------------------------


def _stems(text: str) -> set[str]:
    words = re.findall(r"[a-z]+", text.lower().replace("_", " "))
    return {w[:5] for w in words if len(w) >= 3 and w not in STOPWORDS}


def _functions(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t["function"] for t in tools if isinstance(t.get("function"), dict)]


def choose_tool(tools: list[dict[str, Any]], question: str) -> dict[str, Any] | None:
    """The function the question asks for: the one sharing most words with it, if any."""
    asked = _stems(question)
    best, best_score = None, 0
    for function in _functions(tools):
        offered = _stems(str(function.get("name", "")) + " " + str(function.get("description", "")))
        score = len(asked & offered)
        if score > best_score:
            best, best_score = function, score
    return best


def plan_tool_calls(
    *,
    tools: list[dict[str, Any]] | None,
    tool_choice: Any,
    prompt: str,
    parallel: bool,
    auto_enabled: bool,
) -> ToolPlan | None:
    """The tool calls for this request, or None to answer in text."""
    if not tools or tool_choice in (None, "none"):
        return None
    messages = messages_of(prompt)
    users = [content for role, content in messages if role == "user"]
    question = users[-1] if users else ""
    if isinstance(tool_choice, dict):
        name = tool_choice["function"]["name"]
        function = next(f for f in _functions(tools) if f.get("name") == name)
        return _plan("named", [(name, arguments_for(function.get("parameters"), question))])
    if tool_choice == "required":
        function = choose_tool(tools, question) or _functions(tools)[0]
    else:
        if not auto_enabled or messages[-1][0] != "user":
            return None  # after a tool's result, the answer uses it
        function = choose_tool(tools, question)
        if function is None:
            return None
    name = str(function["name"])
    calls = [(name, args) for args in _argument_sets(function.get("parameters"), question)]
    if not parallel:
        calls = calls[:1]
    return _plan("hermes" if tool_choice == "auto" else "required", calls)


def _plan(style: Style, calls: list[tuple[str, dict[str, Any]]]) -> ToolPlan:
    planned: list[Call] = []
    if style == "named":
        name, args = calls[0]
        text = json.dumps(args, ensure_ascii=False)
        return ToolPlan(style, text, [Call(name, text, ready=1, args_end=len(text))])
    parts: list[str] = []
    offset = 1 if style == "required" else 0  # the array's "["
    for name, args in calls:
        arguments = json.dumps(args, ensure_ascii=False)
        key = "arguments" if style == "hermes" else "parameters"
        opener = "<tool_call>\n" if style == "hermes" else ""
        head = f'{opener}{{"name": {json.dumps(name, ensure_ascii=False)}'
        body = f'{head}, "{key}": {arguments}}}'
        closer = "\n</tool_call>" if style == "hermes" else ""
        start = offset + sum(len(p) for p in parts) + len(parts) * (1 if style == "hermes" else 2)
        args_start = start + len(f'{head}, "{key}": ')
        planned.append(
            Call(name, arguments, ready=start + len(head), args_start=args_start,
                 args_end=args_start + len(arguments))
        )  # fmt: skip
        parts.append(body + closer)
    text = "\n".join(parts) if style == "hermes" else "[" + ", ".join(parts) + "]"
    return ToolPlan(style, text, planned)


# --- filling arguments -----------------------------------------------------------------------


def _places(question: str) -> list[str]:
    """Capitalised names after "in", "at", "for", "to", "from" or "and" ("in Paris and Rome")."""
    found = re.findall(
        r"\b(?:in|at|for|to|from|and|near)\s+((?:[A-Z][\w'\u2019-]+)(?:\s+[A-Z][\w'\u2019-]+){0,2})",
        question,
    )
    out: list[str] = []
    for place in found:
        if place not in out:
            out.append(place)
    return out


def _argument_sets(schema: Any, question: str) -> list[dict[str, Any]]:
    """One argument set per place the question names, for a tool that takes a place (the
    "weather in Paris and Rome" case: parallel calls); else one."""
    properties = (schema or {}).get("properties") if isinstance(schema, dict) else None
    places = _places(question)
    if isinstance(properties, dict) and len(places) > 1:
        takes_place = any(any(p in k.lower() for p in _PLACE_NAMES) for k in properties)
        if takes_place:
            return [arguments_for(schema, question, place=p) for p in places[:MAX_PARALLEL]]
    return [arguments_for(schema, question)]


def arguments_for(schema: Any, question: str, *, place: str | None = None) -> dict[str, Any]:
    """Arguments valid for a JSON-schema object, filled from the question where it says."""
    if not isinstance(schema, dict):
        return {}
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    required = schema.get("required")
    names = list(properties) if not isinstance(required, list) else [
        name for name in properties
        if name in required or _mentioned(name, properties[name], question)
    ]  # fmt: skip
    return {name: _value(name, properties[name], question, place) for name in names}


def _mentioned(name: str, spec: Any, question: str) -> bool:
    lowered = question.lower()
    if name.lower().replace("_", " ") in lowered:
        return True
    enum = spec.get("enum") if isinstance(spec, dict) else None
    return isinstance(enum, list) and any(str(v).lower() in lowered for v in enum)


def _type_of(spec: dict[str, Any]) -> str:
    kind = spec.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind is None:
        if "properties" in spec:
            return "object"
        if "items" in spec:
            return "array"
        for option in spec.get("anyOf") or spec.get("oneOf") or []:
            if isinstance(option, dict) and option.get("type") not in (None, "null"):
                return _type_of(option)
        return "string"
    return str(kind)


def _value(name: str, spec: Any, question: str, place: str | None) -> Any:
    if not isinstance(spec, dict):
        return _text(name, question, place)
    enum = spec.get("enum")
    if isinstance(enum, list) and enum:
        lowered = question.lower()
        return next((v for v in enum if str(v).lower() in lowered), enum[0])
    if "const" in spec:
        return spec["const"]
    kind = _type_of(spec)
    if kind in ("integer", "number"):
        return _number(spec, question, integer=kind == "integer")
    if kind == "boolean":
        return spec.get("default", True) if isinstance(spec.get("default"), bool) else True
    if kind == "array":
        item = _value(name.rstrip("s"), spec.get("items") or {}, question, place)
        return [item] * max(1, int(spec.get("minItems", 1) or 1))
    if kind == "object":
        return arguments_for(spec, question, place=place)
    if kind == "null":
        return None
    return _text(name, question, place)


def _number(spec: dict[str, Any], question: str, *, integer: bool) -> int | float:
    low, high = spec.get("minimum"), spec.get("maximum")
    candidates = [float(n) for n in re.findall(r"(?<![\w.])\d+(?:\.\d+)?", question)]
    default = spec.get("default")
    if isinstance(default, int | float) and not isinstance(default, bool):
        candidates.append(float(default))
    candidates.append(float(low) if isinstance(low, int | float) else 1.0)
    for value in candidates:
        if (low is None or value >= low) and (high is None or value <= high):
            return int(value) if integer else value
    return int(candidates[-1]) if integer else candidates[-1]


def _text(name: str, question: str, place: str | None) -> str:
    lowered = name.lower()
    if any(p in lowered for p in _PLACE_NAMES):
        return place or next(iter(_places(question)), None) or topic_of(key_phrases(question))
    if "email" in lowered:
        found = re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", question)
        return found.group(0) if found else "user@example.com"
    if "url" in lowered or "link" in lowered:
        found = re.search(r"https?://\S+", question)
        return found.group(0).rstrip(".,)") if found else "https://example.com"
    if "date" in lowered or lowered == "when":
        found = re.search(r"\d{4}-\d{2}-\d{2}", question)
        return found.group(0) if found else "today"
    if lowered in _TEXT_NAMES or any(lowered.endswith(t) for t in ("query", "text")):
        return " ".join(question.split())[:200]
    return topic_of(key_phrases(question))
