"""Text that is not Unicode: what a JSON ``"\\ud800"`` escape decodes to in Python.

JSON may escape any character as ``\\uXXXX``, and Python's reader turns an escaped UTF-16
surrogate without its pair into a lone surrogate: a ``str`` that no UTF-8 encoder accepts.
Stored, it fails the database's encoder; sent to a model worker, its tokenizer (a 500 on
every worker, gateway/dispatch.py). Every JSON input a person controls is checked here at
the edge, so the failure is a clear 400 or error frame at once.
"""

from __future__ import annotations

from typing import Any


def lone_surrogate_path(value: Any) -> str | None:
    """Where the first string (or object key) that is not valid Unicode sits in a decoded
    JSON value, as ``messages[0].content``; ``"value"`` for the value itself; None when all
    text is well-formed. Iterative: nesting depth is the JSON reader's to bound."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if not text_encodable(item):
                return path or "value"
        elif isinstance(item, dict):
            for key, child in item.items():
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and not text_encodable(key):
                    return path or "value"
                stack.append((where, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(item))
    return None


def text_encodable(text: str) -> bool:
    """Whether UTF-8 can encode it (it holds no lone surrogate)."""
    # ASCII first: nearly every string is, and that check needs no new object.
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
