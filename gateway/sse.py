"""An incremental parser for Server-Sent Events as vLLM (and OpenAI) send them.

Bytes arrive in arbitrary chunks: a frame may be split anywhere, even inside a UTF-8
character or between ``\\r`` and ``\\n``. The parser buffers only the unfinished tail, so memory
stays bounded by one event, and yields each event as soon as its blank line arrives.

``SSEDataParser`` is what the gateway reads a worker's stream with: the data of each event as
bytes, split without decoding (orjson reads bytes), which for vLLM's shape of event costs a
fraction of decoding and parsing lines; anything else hands the stream to ``SSEParser``.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from dataclasses import dataclass

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None


class SSEParser:
    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._pending_cr = False

    def feed(self, chunk: bytes) -> Iterator[SSEEvent]:
        text = self._decoder.decode(chunk)
        if self._pending_cr and text.startswith("\n"):
            # The previous chunk ended in "\r" of a "\r\n" pair: already counted as a line end.
            text = text[1:]
        self._pending_cr = text.endswith("\r")
        self._buffer += text
        if not self._data and not self._event and "\r" not in self._buffer:
            yield from self._feed_simple()
        while True:
            line, found = self._take_line()
            if not found:
                return
            event = self._process_line(line)
            if event is not None:
                yield event

    def _feed_simple(self) -> Iterator[SSEEvent]:
        """The shape vLLM writes, one ``data:`` line and a blank line per event, taken a whole
        event at a time (a relayed token is one event: this runs for every token). Anything
        else in an event (comments, other fields, several data lines) is left in the buffer
        for the line-by-line parser, in order."""
        buffer = self._buffer
        start = 0
        while True:
            end = buffer.find("\n\n", start)
            if end < 0 or not buffer.startswith("data:", start):
                break
            line = buffer[start + 5 : end]
            if "\n" in line:
                break
            start = end + 2
            # Consumed before the event is handed out: a caller may stop iterating at any one.
            self._buffer = buffer[start:]
            yield SSEEvent(data=line[1:] if line.startswith(" ") else line, id=self._id)

    def _take_line(self) -> tuple[str, bool]:
        match = _LINE_END.search(self._buffer)
        if match is None:
            return "", False
        line = self._buffer[: match.start()]
        self._buffer = self._buffer[match.end() :]
        return line, True

    def _process_line(self, line: str) -> SSEEvent | None:
        if line == "":
            if not self._data:
                self._event = ""
                return None
            event = SSEEvent(
                data="\n".join(self._data), event=self._event or "message", id=self._id
            )
            self._data, self._event = [], ""
            return event
        if line.startswith(":"):
            return None  # a comment, such as a keep-alive
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            self._id = value
        return None


class SSEDataParser:
    """The data of each event, as bytes, in order; the event's name and id are not kept.

    The relay runs this for every token. vLLM's events (one ``data:`` line ending in a blank
    line, ``\\n`` line ends) are cut out of the bytes as they are; at the first thing that is
    not that shape (a comment, another field, several data lines, a ``\\r``) the rest of the
    stream goes to ``SSEParser``, whose events give the same data (tests/gateway/test_sse.py
    compares the two on any stream, cut anywhere)."""

    __slots__ = ("_buffer", "_lines")

    def __init__(self) -> None:
        self._buffer = b""
        self._lines: SSEParser | None = None  # the line parser, once the shape changed

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._lines is not None:
            return [event.data.encode() for event in self._lines.feed(chunk)]
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" in chunk:  # the buffer had none: it would have been handed over
            return self._hand_over(buffer)
        datas: list[bytes] = []
        find = buffer.find
        start = 0
        while (end := find(b"\n\n", start)) >= 0:
            if buffer.startswith(b"data: ", start):
                begin = start + 6
            elif buffer.startswith(b"data:", start):
                begin = start + 5
            else:
                return datas + self._hand_over(buffer[start:])
            if find(b"\n", begin, end) >= 0:
                return datas + self._hand_over(buffer[start:])
            datas.append(buffer[begin:end])
            start = end + 2
        self._buffer = buffer[start:] if start else buffer
        return datas

    def _hand_over(self, rest: bytes) -> list[bytes]:
        self._buffer = b""
        self._lines = SSEParser()
        return [event.data.encode() for event in self._lines.feed(rest)]


async def sse_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    parser = SSEParser()
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
