"""Turning planned tokens into what the client sees: stop strings, max_tokens, and the text
each streamed delta carries.

This is pure (no I/O, no clock) so the wire rules can be tested on their own:

- The answer ends with an end-of-sequence token that has no text, as a real model's does: a
  natural end is a final chunk with empty content and ``finish_reason: "stop"``, and the EOS
  token counts in ``completion_tokens``.
- ``max_tokens`` is checked before EOS (vLLM v1's order), giving ``finish_reason: "length"``.
- A stop string ends the answer without being included (unless
  ``include_stop_str_in_output``), and ``stop_reason`` names it. Text that could be the start
  of a stop string is held back until the next token decides, as vLLM's detokenizer does,
  so a client never receives text that is later cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

EOS = ""

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class Step:
    """One generated token: the text it releases (may be empty) and, on the last one, why
    the answer ended."""

    text: str
    finish_reason: FinishReason | None = None
    stop_reason: str | None = None


def _held_back(text: str, stops: list[str]) -> int:
    """Length of the longest tail of ``text`` that is a proper prefix of a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


def decode(
    pieces: list[str],
    *,
    max_tokens: int,
    stop: list[str] | None = None,
    include_stop_str_in_output: bool = False,
) -> Iterator[Step]:
    """Yield one ``Step`` per generated token; ``pieces`` ends with ``EOS``."""
    stops = [s for s in stop or [] if s]
    out = ""
    released = 0
    for index, piece in enumerate(pieces):
        out += piece
        if stops:
            found: tuple[int, str] | None = None
            for s in stops:
                # Only a match that involves the new piece can be new.
                at = out.find(s, max(0, len(out) - len(piece) - len(s) + 1))
                if at != -1 and (found is None or at < found[0]):
                    found = (at, s)
            if found is not None:
                at, s = found
                end = at + len(s) if include_stop_str_in_output else at
                yield Step(out[released:end], "stop", s)
                return
        if index + 1 >= max_tokens:
            yield Step(out[released:], "length")
            return
        if index + 1 >= len(pieces):
            yield Step(out[released:], "stop")
            return
        hold = _held_back(out[released:], stops) if stops else 0
        end = len(out) - hold
        yield Step(out[released:end])
        released = end
