import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.sse import SSEDataParser, SSEEvent, SSEParser, sse_events


def parse_all(chunks: list[bytes]) -> list[SSEEvent]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events


def test_it_yields_each_data_frame():
    events = parse_all([b'data: {"a":1}\n\ndata: [DONE]\n\n'])
    assert [e.data for e in events] == ['{"a":1}', "[DONE]"]


def test_it_waits_for_the_blank_line_before_yielding():
    parser = SSEParser()
    assert list(parser.feed(b"data: partial")) == []
    assert list(parser.feed(b"\n")) == []
    assert [e.data for e in parser.feed(b"\n")] == ["partial"]


def test_it_ignores_keep_alive_comments():
    events = parse_all([b": keep-alive\n\n", b"data: x\n\n", b":ping\n\n"])
    assert [e.data for e in events] == ["x"]


def test_it_joins_multi_line_data_and_reads_event_and_id():
    events = parse_all([b"event: update\nid: 7\ndata: one\ndata: two\n\n"])
    assert events == [SSEEvent(data="one\ntwo", event="update", id="7")]


def test_it_accepts_crlf_and_cr_line_endings_even_when_split_between_chunks():
    events = parse_all([b"data: a\r", b"\n\r", b"\ndata: b\r\r"])
    assert [e.data for e in events] == ["a", "b"]


def test_it_reassembles_a_utf8_character_split_across_chunks():
    payload = "data: héllo ✓\n\n".encode()
    split = payload.index("✓".encode()) + 1
    events = parse_all([payload[:split], payload[split:]])
    assert [e.data for e in events] == ["héllo ✓"]


def test_it_keeps_only_one_leading_space_of_a_value():
    assert [e.data for e in parse_all([b"data:  two spaces\n\n"])] == [" two spaces"]
    assert [e.data for e in parse_all([b"data:none\n\n"])] == ["none"]


@given(
    frames=st.lists(
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
            max_size=40,
        ),
        min_size=1,
        max_size=8,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_any_chunking_gives_the_same_events(frames, cuts, newline):
    wire = "".join(f"data: {frame}{newline}{newline}" for frame in frames).encode()
    points = sorted({min(cut, len(wire)) for cut in cuts})
    chunks = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True)]
    assert [e.data for e in parse_all(chunks)] == frames


@pytest.mark.asyncio
async def test_sse_events_reads_an_async_byte_stream():
    async def chunks():
        yield b"data: 1\n\nda"
        yield b"ta: 2\n\n"

    assert [event.data async for event in sse_events(chunks())] == ["1", "2"]


_LINES = st.sampled_from(
    ["data: x", "data:y", "data:  z", "data:", ": keep-alive", "event: e", "id: 4", "retry: 9", ""]
)


@given(
    events=st.lists(st.lists(_LINES, min_size=1, max_size=4), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=8),
)
def test_the_fast_path_for_single_data_lines_reads_every_stream_as_the_line_parser_does(
    events, cuts
):
    # vLLM's events take a shortcut (one data line each); mixed with everything else SSE
    # allows, and cut anywhere, the result must be what the plain line parser gives.
    wire = "".join("\n".join(lines) + "\n\n" for lines in events).encode()
    points = sorted({min(cut, len(wire)) for cut in cuts})
    chunks = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True)]

    class LineByLine(SSEParser):
        def _feed_simple(self):
            return iter(())

    reference = LineByLine()
    expected = [event for chunk in chunks for event in reference.feed(chunk)]
    assert parse_all(chunks) == expected


def test_a_consumer_that_stops_early_leaves_the_rest_for_the_next_feed():
    parser = SSEParser()
    events = parser.feed(b"data: 1\n\ndata: 2\n\n")
    assert next(events).data == "1"
    events.close()  # the caller stopped after the first event
    assert [e.data for e in parser.feed(b"data: 3\n\n")] == ["2", "3"]


def data_all(chunks: list[bytes]) -> list[bytes]:
    parser = SSEDataParser()
    return [data for chunk in chunks for data in parser.feed(chunk)]


def test_the_data_parser_cuts_vllm_events_out_of_the_bytes():
    parser = SSEDataParser()
    assert parser.feed(b'data: {"a":1}\n\ndata: [DO') == [b'{"a":1}']
    assert parser.feed(b"NE]\n") == []
    assert parser.feed(b"\n") == [b"[DONE]"]


def test_the_data_parser_keeps_a_utf8_character_split_across_chunks_whole():
    payload = "data: héllo ✓\n\n".encode()
    split = payload.index("✓".encode()) + 1
    assert data_all([payload[:split], payload[split:]]) == ["héllo ✓".encode()]


@given(
    events=st.lists(st.lists(_LINES, min_size=1, max_size=4), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=8),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_the_data_parser_gives_the_data_the_line_parser_gives_on_any_stream(events, cuts, newline):
    # Bytes for vLLM's shape, the line parser from the first event of any other: cut
    # anywhere, with any line end, the data must be the line parser's, in order.
    wire = "".join(newline.join(lines) + newline * 2 for lines in events).encode()
    points = sorted({min(cut, len(wire)) for cut in cuts})
    chunks = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True)]
    assert data_all(chunks) == [event.data.encode() for event in parse_all(chunks)]
