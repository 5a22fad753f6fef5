"""An approximate tokenizer and chat template.

There is no real vocabulary: text is split like a byte-level BPE pre-tokenizer would split it
(words with their leading space, runs of digits, punctuation, whitespace), and long words are
cut into pieces of at most ``MAX_PIECE`` characters. That gives roughly one token per 4
characters of English, which is what usage numbers and the prefix cache need. The split is
lossless: ``"".join(tokenize(text)) == text``, and tokenizing a suffix that starts at a token
boundary gives the same tokens as the tail of the whole, which keeps a continued answer's
tokens identical to the uninterrupted one's.
"""

from __future__ import annotations

import re
from typing import Any

MAX_PIECE = 10

# Every character is a letter, a digit, whitespace or "other", so every character matches.
_PIECES = re.compile(r" ?[A-Za-z]+| ?[0-9]{1,3}| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")


def tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    for match in _PIECES.finditer(text):
        piece = match.group(0)
        if len(piece) <= MAX_PIECE:
            tokens.append(piece)
            continue
        # Cut long words into near-equal parts rather than a long head and a stray letter.
        parts = -(-len(piece) // MAX_PIECE)
        size = -(-len(piece) // parts)
        tokens.extend(piece[i : i + size] for i in range(0, len(piece), size))
    return tokens


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
        return "".join(parts)
    raise TypeError("content must be a string or a list of content parts")


def render_chat(
    messages: list[dict[str, Any]], *, add_generation_prompt: bool, continue_final_message: bool
) -> str:
    """A ChatML-like rendering: what the model reads. Earlier turns render identically every
    time, so a conversation's next turn shares its prefix with the previous one."""
    out = []
    for index, message in enumerate(messages):
        text = content_text(message.get("content"))
        if continue_final_message and index == len(messages) - 1:
            # A continued answer is read with its thinking before it, as reasoning models'
            # templates render the last turn's (vLLM 0.34 passes a message's ``reasoning``,
            # or ``reasoning_content``, to the template).
            thought = message.get("reasoning") or message.get("reasoning_content")
            if isinstance(thought, str) and thought:
                text = f"<think>\n{thought}\n</think>\n\n{text}"
        out.append(f"<|im_start|>{message['role']}\n{text}")
        out.append("<|im_end|>\n")
    if continue_final_message and out:
        # The last message stays open so that the answer extends it.
        out.pop()
    elif add_generation_prompt:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


# Token ids for ``POST /tokenize``: each distinct piece gets the next id the first time it is
# seen, for the life of the process, so ids this worker gave out read back as their text
# (a prompt of ids it never gave out stays opaque: see parse_completion). Ids start high so
# that the small ids tests send by hand are never pieces.
FIRST_ID = 100_000
_ids: dict[str, int] = {}
_pieces: list[str] = []


def token_ids(pieces: list[str]) -> list[int]:
    out = []
    for piece in pieces:
        if piece not in _ids:
            _ids[piece] = FIRST_ID + len(_pieces)
            _pieces.append(piece)
        out.append(_ids[piece])
    return out


def token_piece(token_id: int) -> str | None:
    index = token_id - FIRST_ID
    return _pieces[index] if 0 <= index < len(_pieces) else None


_OPEN_TURN = "<|im_start|>assistant\n"


def open_assistant_turn(text: str) -> tuple[str, str] | None:
    """A prompt that is a rendered chat ending inside an assistant message (as a gateway
    sends to continue an answer through /v1/completions): the chat up to that message's
    start, and the message's text so far."""
    at = text.rfind(_OPEN_TURN)
    if at < 0:
        return None
    start = at + len(_OPEN_TURN)
    if "<|im_end|>" in text[start:]:
        return None
    return text[:start], text[start:]


def last_user_text(rendered: str) -> str:
    marker = "<|im_start|>user\n"
    at = rendered.rfind(marker)
    if at < 0:
        return ""
    rest = rendered[at + len(marker) :]
    end = rest.find("<|im_end|>")
    return rest if end < 0 else rest[:end]
