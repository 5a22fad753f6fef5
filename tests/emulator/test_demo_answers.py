"""The demo answers (gateway/emulator/text.py) and tool calls (tool_calls.py): they restate
the prompt, use markdown, cite passages only when there are some, give short titles, vary
without a seed and not with one, and call tools in vLLM 0.34's wire format."""

from __future__ import annotations

import json
import re

import openai
import pytest

from chat.services.conversations import TITLE_PROMPT, title_clean
from chat.services.retrieval import _prompt
from datasets.selectors import Hit
from gateway.emulator.text import compose_answer
from gateway.emulator.tokens import render_chat, tokenize

from .helpers import MODEL, read_stream


def rendered(*messages: tuple[str, str]) -> str:
    chat = [{"role": role, "content": content} for role, content in messages]
    return render_chat(chat, add_generation_prompt=True, continue_final_message=False)


def ask(question: str, *, seed: int | None = 1, tokens: int = 400, system: str = "") -> str:
    messages = ([("system", system)] if system else []) + [("user", question)]
    return compose_answer(prompt=rendered(*messages), seed=seed, target_tokens=tokens)


async def chat(client, url, question: str, **extra):
    body = {"model": MODEL, "messages": [{"role": "user", "content": question}], **extra}
    response = await client.post(url + "/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response.json()


# --- answers -------------------------------------------------------------------------------


def test_the_answer_restates_the_questions_key_phrases():
    text = ask("Tell me about the winters on Mars and the dust storms")

    first = text.splitlines()[0]
    assert "**winters on Mars**" in first
    assert "*dust storms*" in first
    assert "## Winters on Mars" in text


@pytest.mark.parametrize("seed", range(6))
def test_answers_carry_headings_lists_or_tables_and_the_demo_note(seed):
    text = ask("What is a prefix cache, and why does it make the second turn faster?", seed=seed)

    assert re.search(r"^## ", text, re.MULTILINE)
    assert re.search(r"^### ", text, re.MULTILINE)
    assert re.search(r"^(- |1\. |\| )", text, re.MULTILINE)
    assert text.endswith("no language model read your message.*")


def test_a_comparison_gets_a_table_with_both_subjects():
    text = ask("Compare PostgreSQL vs SQLite for a small web app")

    header = next(line for line in text.splitlines() if line.startswith("| Aspect"))
    assert "PostgreSQL" in header and "SQLite" in header
    assert "| --- | --- | --- |" in text


@pytest.mark.parametrize(
    ("question", "fence"),
    [
        ("Write a Python function that parses CSV files", "```python\ndef parses_csv"),
        ("How do I do this in Rust? Show me a function", "```rust\n"),
        ("A SQL query to find duplicate emails", "```sql\n"),
        ("Write a TypeScript function to debounce input", "```typescript\n"),
    ],
)
def test_a_question_about_code_gets_a_fenced_block_in_its_language(question, fence):
    text = ask(question)

    assert fence in text
    assert text.count("```") % 2 == 0


def test_a_question_without_code_gets_no_code_block():
    assert "```" not in ask("Tell me about the winters on Mars")


def test_a_question_about_maths_gets_inline_and_display_latex():
    text = ask("What is the formula for the variance of a sample?")

    assert re.search(r"\$[^\s$][^$]*[^\s$]\$", text)  # inline, as the chat's renderer wants
    assert "\n$$\n\\sigma^2" in text and text.count("$$") == 2


def test_passages_in_the_prompt_are_cited_by_number():
    hits = [
        Hit(dataset_id=1, title="Mars climate", key="a", url="", chunk_id=7, document_id=1,
            ordinal=0, text="Winters at the Martian poles reach -125 C.", score=1.0),
        Hit(dataset_id=1, title="Seasons", key="b", url="", chunk_id=8, document_id=2,
            ordinal=0, text="A Martian year lasts 687 Earth days.", score=0.5),
    ]  # fmt: skip
    text = ask("How cold are winters on Mars?", system=_prompt(hits))

    assert "[1]" in text and "[2]" in text
    assert "**Mars climate**" in text
    assert "[3]" not in text


def test_no_passages_no_citations():
    for seed in range(4):
        text = ask("How cold are winters on Mars, and why?", seed=seed)
        assert not re.search(r"\[\d+\]", text)


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("Tell me about the weather on Mars in winter", {"weather", "mars", "winter"}),
        ("How do I write a Python function that parses CSV files?", {"python", "csv"}),
        ("What is a prefix cache?", {"prefix", "cache"}),
    ],
)
def test_the_chats_title_prompt_gets_a_short_title_about_the_question(question, words):
    # The request chat/services/conversations.py sends for a conversation's title.
    prompt = rendered(
        ("system", TITLE_PROMPT),
        ("user", question),
        ("assistant", ask(question)),
        ("user", "The title of this conversation:"),
    )
    for seed in (None, 1, 2, 3):
        raw = compose_answer(prompt=prompt, seed=seed, target_tokens=24)
        title = title_clean(raw)
        assert raw == title  # nothing for the chat to clean
        assert 1 <= len(title.split()) <= 6
        assert title[-1].isalnum()
        assert words & set(title.lower().split())


@pytest.mark.parametrize(
    ("question", "title"),
    [("Hello!", "Hello"), ("hi", "Hi"), ("what is 2+2", "What is 2+2"), ("?", "A Quick Question")],
)
def test_a_question_with_nothing_to_build_on_is_its_own_title(question, title):
    # Before, the words of the title request were taken for its subject: "Understanding Title".
    prompt = rendered(
        ("system", TITLE_PROMPT),
        ("user", question),
        ("assistant", ask(question)),
        ("user", "The title of this conversation:"),
    )
    for seed in (None, 1, 2):
        assert compose_answer(prompt=prompt, seed=seed, target_tokens=24) == title
        assert title_clean(title) == title


def test_a_seed_fixes_the_answer_and_different_seeds_differ():
    question = "What is a prefix cache, and why does it make the second turn faster?"

    assert ask(question, seed=7) == ask(question, seed=7)
    assert len({ask(question, seed=s) for s in range(8)}) >= 6


def test_the_length_follows_the_target_in_tokens():
    question = "Explain the derivative with a formula and some Python code"
    for target in (5, 40, 120, 600):
        text = ask(question, tokens=target)
        assert target * 0.8 <= len(tokenize(text)) <= target


# --- on the wire ----------------------------------------------------------------------------


async def test_without_a_seed_a_regenerated_answer_differs(client, start_emulator):
    url = await start_emulator(unseeded_answers="vary")
    question = "What is a prefix cache?"

    texts = {(await chat(client, url, question))["choices"][0]["message"]["content"]
             for _ in range(6)}  # fmt: skip
    seeded = {(await chat(client, url, question, seed=3))["choices"][0]["message"]["content"]
              for _ in range(3)}  # fmt: skip

    assert len(texts) >= 3
    assert len(seeded) == 1


async def test_an_unseeded_answer_is_continued_on_another_worker_as_one_whole(
    client, start_emulator
):
    first = await start_emulator(unseeded_answers="vary")
    second = await start_emulator(unseeded_answers="vary")
    question = "Tell me about the winters on Mars"
    for _ in range(4):
        whole = (await chat(client, first, question))["choices"][0]["message"]["content"]
        partial = "".join(tokenize(whole)[:9])
        body = {
            "model": MODEL,
            "messages": [
                {"role": "user", "content": question},
                {"role": "assistant", "content": partial},
            ],
            "continue_final_message": True,
            "add_generation_prompt": False,
        }
        response = await client.post(second + "/v1/chat/completions", json=body)
        rest = response.json()["choices"][0]["message"]["content"]
        assert partial.rstrip() + rest == whole


async def test_usage_counts_the_tokens_of_the_text(client, url):
    data = await chat(client, url, "Compare Rust vs Go for a CLI tool", seed=5)

    text = data["choices"][0]["message"]["content"]
    assert data["usage"]["completion_tokens"] == len(tokenize(text)) + 1  # and the EOS


# --- tool calls -----------------------------------------------------------------------------

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "days"],
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search_documents",
        "description": "Search the user's documents for a query",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["query"],
        },
    },
}
ASK_WEATHER = "What will the weather be in Paris for the next 3 days, in fahrenheit?"


def tool_body(question: str = ASK_WEATHER, **extra):
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": question}],
        "tools": [SEARCH, WEATHER],
        **extra,
    }


async def test_a_question_a_tool_answers_gets_a_tool_call(client, url):
    response = await client.post(url + "/v1/chat/completions", json=tool_body())

    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] is None
    (call,) = message["tool_calls"]
    assert re.fullmatch(r"chatcmpl-tool-[0-9a-f]{16}", call["id"])
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {
        "city": "Paris", "unit": "fahrenheit", "days": 3,
    }  # fmt: skip


async def test_a_question_no_tool_answers_gets_text(client, url):
    body = tool_body("Tell me about the winters on Mars")

    message = (await client.post(url + "/v1/chat/completions", json=body)).json()["choices"][0]

    assert message["finish_reason"] == "stop"
    # vLLM 0.34 leaves an empty tool_calls out (ChatMessage._serialize).
    assert "tool_calls" not in message["message"]
    assert "**winters on Mars**" in message["message"]["content"]


async def test_tool_choice_none_answers_in_text(client, url):
    body = tool_body(tool_choice="none")

    choice = (await client.post(url + "/v1/chat/completions", json=body)).json()["choices"][0]

    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]


async def test_a_streamed_tool_call_announces_the_call_then_sends_its_arguments(client, url):
    body = tool_body("Weather in Paris and in Rome for 2 days?", stream=True,
                     stream_options={"include_usage": True})  # fmt: skip

    stream = await read_stream(client, url, body)

    objects = stream.objects
    assert objects[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [o["choices"][0]["delta"] for o in objects[1:] if o["choices"]]
    calls = [c for d in deltas for c in d.get("tool_calls", [])]
    heads = [c for c in calls if "id" in c]
    # The hermes parser: one head per call, then argument fragments, "content": null.
    assert [list(h) for h in heads] == [["id", "type", "index", "function"]] * 2
    assert [h["index"] for h in heads] == [0, 1]
    assert all(h["function"] == {"name": "get_weather"} for h in heads)
    assert all(d.get("content", "absent") is None for d in deltas if d.get("tool_calls"))
    arguments = ["".join(c["function"].get("arguments", "") for c in calls if c["index"] == i)
                 for i in (0, 1)]  # fmt: skip
    assert [json.loads(a)["city"] for a in arguments] == ["Paris", "Rome"]
    assert len([c for c in calls if "id" not in c]) > 2  # fragments, not one piece
    ending = objects[-2]["choices"][0]
    assert ending["finish_reason"] == "tool_calls"
    usage = objects[-1]["usage"]
    whole = (await client.post(url + "/v1/chat/completions", json={
        **{k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    })).json()  # fmt: skip
    assert usage["completion_tokens"] == whole["usage"]["completion_tokens"]
    assert [c["function"]["arguments"] for c in whole["choices"][0]["message"]["tool_calls"]] == (
        arguments
    )


async def test_parallel_tool_calls_false_makes_one_call(client, url):
    body = tool_body("Weather in Paris and in Rome for 2 days?", parallel_tool_calls=False)

    message = (await client.post(url + "/v1/chat/completions", json=body)).json()["choices"][0]

    assert len(message["message"]["tool_calls"]) == 1


async def test_a_named_tool_is_called_and_ends_with_stop(client, url):
    choice = {"type": "function", "function": {"name": "search_documents"}}
    body = tool_body("Find my notes about prefix caches", tool_choice=choice)

    data = (await client.post(url + "/v1/chat/completions", json=body)).json()["choices"][0]
    stream = await read_stream(client, url, {**body, "stream": True})

    assert data["finish_reason"] == "stop"  # vLLM reports "stop" for a named tool
    assert data["message"]["content"] == ""
    (call,) = data["message"]["tool_calls"]
    assert call["function"]["name"] == "search_documents"
    assert json.loads(call["function"]["arguments"]) == {
        "query": "Find my notes about prefix caches"
    }
    calls = [c for o in stream.objects[1:] for c in o["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["function"]["name"] == "search_documents"
    assert "arguments" in calls[0]["function"]  # the first fragment comes with the name
    assert all(list(c) == ["index", "function"] for c in calls[1:])


async def test_required_calls_the_closest_tool_and_streams_null_names(client, url):
    body = tool_body("Look up the forecast", tool_choice="required", stream=True)

    stream = await read_stream(client, url, body)

    calls = [c for o in stream.objects[1:] for c in o["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["type"] == "function" and "arguments" in calls[0]["function"]
    assert all(c["function"]["name"] is None for c in calls[1:])
    assert stream.objects[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_tool_choice_is_checked_as_vllm_checks_it(client, start_emulator):
    url = await start_emulator()
    no_parser = await start_emulator(enable_auto_tool_choice=False, tool_call_parser=None)
    post = client.post
    unknown = {"type": "function", "function": {"name": "nope"}}

    missing = await post(url + "/v1/chat/completions", json={
        "model": MODEL, "messages": [{"role": "user", "content": "hi"}], "tool_choice": "auto"
    })  # fmt: skip
    wrong = await post(url + "/v1/chat/completions", json=tool_body(tool_choice=unknown))
    auto = await post(no_parser + "/v1/chat/completions", json=tool_body())
    required = await post(
        no_parser + "/v1/chat/completions", json=tool_body(tool_choice="required")
    )

    assert missing.status_code == 400 and "`tools` must be set" in missing.text
    assert wrong.status_code == 400 and "does not match any" in wrong.text
    assert auto.status_code == 400 and "--enable-auto-tool-choice" in auto.text
    assert required.status_code == 400 and "requires --tool-call-parser" in required.text


async def test_the_tools_result_is_used_in_the_follow_up_answer(client, url):
    first = (await client.post(url + "/v1/chat/completions", json=tool_body())).json()
    message = first["choices"][0]["message"]
    (call,) = message["tool_calls"]
    result = {"city": "Paris", "temperature": 64, "conditions": "light rain"}
    body = tool_body()
    body["messages"] += [
        {"role": "assistant", "content": None, "tool_calls": message["tool_calls"]},
        {"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)},
    ]

    follow = (await client.post(url + "/v1/chat/completions", json=body)).json()["choices"][0]

    assert follow["finish_reason"] == "stop" and "tool_calls" not in follow["message"]
    text = follow["message"]["content"]
    assert "| temperature | 64 |" in text and "light rain" in text
    assert "weather*" in text.splitlines()[0]  # the question, restated


async def test_the_openai_sdk_parses_the_tool_calls(url):
    sdk = openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    tools = [SEARCH, WEATHER]
    messages = [{"role": "user", "content": ASK_WEATHER}]

    whole = await sdk.chat.completions.create(model=MODEL, messages=messages, tools=tools)
    stream = await sdk.chat.completions.create(
        model=MODEL, messages=messages, tools=tools, stream=True
    )
    names, arguments, finish = [], "", None
    async for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                if call.function and call.function.name:
                    names.append(call.function.name)
                arguments += (call.function.arguments or "") if call.function else ""
            finish = choice.finish_reason or finish
    await sdk.close()

    (call,) = whole.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and whole.choices[0].finish_reason == "tool_calls"
    assert json.loads(call.function.arguments)["city"] == "Paris"
    assert names == ["get_weather"] and finish == "tool_calls"
    assert json.loads(arguments) == json.loads(call.function.arguments)
