"""What the emulator answers: length limits, stop strings, seeds, continuation, the text."""

from __future__ import annotations

import pytest

from gateway.emulator.decode import EOS, decode
from gateway.emulator.tokens import tokenize

from .helpers import MODEL, QUESTION, chat_body, read_stream


async def answer(client, url, **extra) -> dict:
    response = await client.post(url + "/v1/chat/completions", json=chat_body(**extra))
    assert response.status_code == 200, response.text
    return response.json()


def content(data: dict) -> str:
    return data["choices"][0]["message"]["content"]


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
async def test_max_tokens_cuts_the_answer_with_finish_reason_length(client, url, field):
    whole = await answer(client, url, seed=5)
    cut = await answer(client, url, seed=5, **{field: 9})

    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] == 9
    assert content(cut) == "".join(tokenize(content(whole))[:9])


async def test_a_stop_string_ends_the_answer_without_the_stop_string(client, url):
    whole = content(await answer(client, url, seed=8))
    stop = "vLLM"
    expected = whole[: whole.index(stop)]

    data = await answer(client, url, seed=8, stop=["never-there", stop])
    stream = await read_stream(client, url, chat_body(seed=8, stop=stop, stream=True))

    assert content(data) == expected
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["choices"][0]["stop_reason"] == stop
    assert stream.text == expected
    assert stream.objects[-1]["choices"][0]["finish_reason"] == "stop"
    assert stream.objects[-1]["choices"][0]["stop_reason"] == stop


async def test_include_stop_str_in_output_keeps_it(client, url):
    whole = content(await answer(client, url, seed=8))

    data = await answer(client, url, seed=8, stop="vLLM", include_stop_str_in_output=True)

    assert content(data) == whole[: whole.index("vLLM") + len("vLLM")]


def test_text_that_may_start_a_stop_string_is_held_back_until_decided():
    pieces = ["He", "llo", " wo", "rld", "!", EOS]

    steps = list(decode(pieces, max_tokens=100, stop=["o wx", "ld!"]))

    # A trailing "o" could begin "o wx" and a trailing "ld" could begin "ld!": each waits
    # for the next token, and the "ld" that did become the stop string is never sent.
    assert [s.text for s in steps] == ["He", "ll", "o w", "or", ""]
    assert steps[-1].finish_reason == "stop" and steps[-1].stop_reason == "ld!"
    assert len(steps) == 5  # the token that completed the stop string counts


def test_max_tokens_wins_over_eos_and_a_natural_end_costs_one_eos_token():
    pieces = ["a", "b", EOS]

    assert [(s.text, s.finish_reason) for s in decode(pieces, max_tokens=2)] == [
        ("a", None),
        ("b", "length"),
    ]
    # vLLM v1 checks the length cap before EOS, even when the capped token is EOS itself.
    assert [(s.text, s.finish_reason) for s in decode(pieces, max_tokens=3)][-1] == (
        "",
        "length",
    )
    assert [(s.text, s.finish_reason) for s in decode(pieces, max_tokens=4)] == [
        ("a", None),
        ("b", None),
        ("", "stop"),
    ]


async def test_the_same_seed_and_prompt_give_the_same_answer_and_other_seeds_differ(client, url):
    first = content(await answer(client, url, seed=1234))
    again = content(await answer(client, url, seed=1234))
    others = {content(await answer(client, url, seed=s)) for s in (1, 2, 3)}

    assert first == again
    assert len(others | {first}) == 4


async def test_without_a_seed_the_prompt_decides_the_answer(client, url):
    one = content(await answer(client, url))
    same = content(await answer(client, url, temperature=0.7))
    other = content(
        (
            await client.post(
                url + "/v1/chat/completions",
                json={"model": MODEL, "messages": [{"role": "user", "content": "Other?"}]},
            )
        ).json()
    )

    assert one == same
    assert one != other


@pytest.mark.parametrize("seed", [42, None])
async def test_continue_final_message_finishes_the_answer_the_first_run_would_give(
    client, url, seed
):
    extra = {} if seed is None else {"seed": seed}
    whole = await answer(client, url, **extra)
    text = content(whole)
    tokens = tokenize(text)
    token_cut = len("".join(tokens[:17]))  # where a dead stream stops: a token boundary
    for cut in (token_cut, token_cut + 2, len(text) // 2):
        while text[cut - 1].isspace():
            cut -= 1  # a partial with trailing whitespace is read trimmed (test below)
        partial = text[:cut]
        body = {
            "model": MODEL,
            "messages": [
                {"role": "user", "content": QUESTION},
                {"role": "assistant", "content": partial},
            ],
            "continue_final_message": True,
            "add_generation_prompt": False,
            "stream": True,
            "stream_options": {"include_usage": True},
            **extra,
        }

        stream = await read_stream(client, url, body)

        assert stream.done
        assert stream.text and not text.startswith(stream.text)  # not a restart
        assert partial + stream.text == text
        usage = stream.objects[-1]["usage"]
        assert usage["prompt_tokens"] > whole["usage"]["prompt_tokens"]  # it read the partial


async def test_a_partial_that_is_not_this_answer_is_continued_after_it(client, url):
    body = chat_body(continue_final_message=True, add_generation_prompt=False, seed=4)
    body["messages"].append({"role": "assistant", "content": "Sure, here goes"})

    data = await answer(client, url, **{k: v for k, v in body.items() if k != "messages"},
                        messages=body["messages"])  # fmt: skip

    assert content(data).startswith("\n\n")
    assert "aiportal vLLM emulator" in content(data)


async def test_continue_final_message_needs_an_assistant_message_last(client, url):
    response = await client.post(
        url + "/v1/chat/completions",
        json=chat_body(continue_final_message=True, add_generation_prompt=False),
    )

    assert response.status_code == 400


async def test_the_default_answer_restates_a_long_question_with_markdown(client, start_emulator):
    url = await start_emulator(answer_tokens=300)
    question = "Tell me everything about GPU memory bandwidth. " * 40

    data = await answer(client, url, messages=[{"role": "user", "content": question}], seed=2)

    text = content(data)
    assert "**GPU memory bandwidth**" in text.splitlines()[0]
    assert "\n## " in text
    assert any(mark in text for mark in ("\n- ", "\n1. ", "\n| "))
    assert text.endswith("*")  # the demo note
    assert "**aiportal vLLM emulator**" in text
    assert data["usage"]["completion_tokens"] <= 301


async def test_answer_tokens_sets_the_length(client, start_emulator):
    short_url = await start_emulator(answer_tokens=60)
    long_url = await start_emulator(answer_tokens=600)

    short = await answer(client, short_url, seed=1)
    long = await answer(client, long_url, seed=1)

    assert short["usage"]["completion_tokens"] <= 61
    assert 500 < long["usage"]["completion_tokens"] <= 601
    assert long["choices"][0]["finish_reason"] == "stop"


def test_tokenize_is_lossless_and_splits_words_with_their_leading_space():
    text = "Hello  world,\n\n- item 12345 internationalization ünïcode `code`"

    tokens = tokenize(text)

    assert "".join(tokens) == text
    assert " world" in tokens
    assert all(len(t) <= 10 for t in tokens)
    assert tokenize(text[len("".join(tokens[:3])) :]) == tokens[3:]


async def test_echo_on_a_continuation_sends_the_partial_first(client, url):
    # vLLM 0.34's serving.py: echo repeats the final message when it has the answer's role.
    partial = "Sure, here goes"
    body = chat_body(continue_final_message=True, add_generation_prompt=False, seed=4, echo=True)
    body["messages"].append({"role": "assistant", "content": partial})
    body_plain = {k: v for k, v in body.items() if k != "echo"}

    echoed = await read_stream(client, url, {**body, "stream": True})
    plain = await read_stream(client, url, {**body_plain, "stream": True})
    whole = await answer(client, url, **{k: v for k, v in body.items() if k != "messages"},
                         messages=body["messages"])  # fmt: skip

    assert echoed.content_chunks[0]["choices"][0]["delta"] == {"content": partial}
    assert echoed.text == partial + plain.text
    assert content(whole) == partial + plain.text


async def test_echo_without_an_assistant_message_last_sends_nothing_more(client, url):
    plain = await answer(client, url, seed=4)
    echoed = await answer(client, url, seed=4, echo=True)

    assert content(echoed) == content(plain)


async def test_both_generation_flags_explicitly_true_are_refused(client, url):
    body = chat_body(continue_final_message=True, add_generation_prompt=True)
    body["messages"].append({"role": "assistant", "content": "Sure"})

    response = await client.post(url + "/v1/chat/completions", json=body)

    assert response.status_code == 400
    assert "Cannot set both" in response.text


async def test_a_continued_message_is_read_without_its_trailing_whitespace(client, url):
    # transformers' apply_chat_template cuts the chat after the final message's stripped
    # text (vLLM 0.34 renders with it): the model writes the whitespace again.
    text = content(await answer(client, url, seed=42))
    tokens = tokenize(text)
    cut = next(n for n in range(3, len(tokens)) if tokens[n - 1].isspace())
    partial = "".join(tokens[:cut])
    trimmed = partial.rstrip()
    for sent in (partial, trimmed):
        body = chat_body(continue_final_message=True, add_generation_prompt=False, seed=42)
        body["messages"].append({"role": "assistant", "content": sent})
        data = await answer(client, url, **{k: v for k, v in body.items() if k != "messages"},
                            messages=body["messages"])  # fmt: skip
        assert trimmed + content(data) == text


async def test_a_worker_can_refuse_continuation_as_some_templates_do(client, url):
    await client.post(url + "/emulator/faults", json={"refuse_continuation": True})
    body = chat_body(continue_final_message=True, add_generation_prompt=False, stream=True)
    body["messages"].append({"role": "assistant", "content": "Sure"})

    refused = await client.post(url + "/v1/chat/completions", json=body)
    plain = await client.post(url + "/v1/chat/completions", json=chat_body())

    assert refused.status_code == 400
    assert "final message does not appear in the chat" in refused.text
    assert plain.status_code == 200


async def test_tokenize_renders_a_chat_that_completions_continue_like_the_chat(client, url):
    # vLLM 0.34's /tokenize (serve/tokenize/): messages through the chat template, or a
    # prompt, to token ids; ids this worker gave out read back as their text.
    text = content(await answer(client, url, seed=42))
    tokens = tokenize(text)
    cut = next(n for n in range(3, len(tokens)) if tokens[n - 1].isspace())
    partial = "".join(tokens[:cut])  # read whole: its trailing whitespace too
    chat = await client.post(
        url + "/tokenize",
        json={"model": MODEL, "messages": chat_body()["messages"], "add_generation_prompt": True},
    )
    written = await client.post(
        url + "/tokenize", json={"model": MODEL, "prompt": partial, "add_special_tokens": False}
    )
    assert chat.status_code == written.status_code == 200
    assert chat.json()["count"] == len(chat.json()["tokens"])
    body = {"model": MODEL, "prompt": chat.json()["tokens"] + written.json()["tokens"], "seed": 42}

    rest = await client.post(url + "/v1/completions", json=body)

    assert partial + rest.json()["choices"][0]["text"] == text
    wrong = await client.post(url + "/tokenize", json={"model": "nope", "prompt": "x"})
    assert wrong.status_code == 404


async def test_structured_outputs_choice_constrains_and_guided_fields_are_ignored(client, url):
    # vLLM 0.34 reads structured_outputs; the removed guided_choice is an ignored extra field.
    path = url + "/v1/chat/completions"
    body = chat_body(seed=3, max_tokens=50)
    chosen = await client.post(path, json={**body, "structured_outputs": {"choice": ["A", "B"]}})
    ignored = await client.post(path, json={**body, "guided_choice": ["A", "B"]})
    assert chosen.json()["choices"][0]["message"]["content"] in ("A", "B")
    assert ignored.json()["choices"][0]["message"]["content"] not in ("A", "B")
