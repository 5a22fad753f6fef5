"""Run one document's parser in a forked child with a wall-clock deadline.

Why a child process, not a deadline checked between pages: the costly part of a hostile
document is inside one call we do not control — pypdf's text extraction of a single page
whose content stream expands to tens of megabytes, lxml or trafilatura on a huge page,
python-docx on a bloated part. A check between pages never runs while that call works, a
signal-based timer works only in the main thread and not inside C code, and a thread cannot
be stopped at all. A child can be killed at the deadline whatever it is doing, and its
memory goes with it.

Why fork: the child inherits the loaded parsers (no import per document, about as cheap as
a few milliseconds) and needs nothing from the parent but the bytes, which it already has.
It touches no database connection, socket or file of the parent, and leaves through
``os._exit``, so no finaliser of the parent's objects runs twice. Formats whose cost is
linear in the (already bounded) input run in-process: forking for every small text file
would cost more than reading it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import time
from collections.abc import Callable

_READ = 1 << 20


class Overtime(Exception):
    """The parser did not finish before its deadline; it was killed."""


class ChildFailed(Exception):
    """The parser raised (``kind`` is the exception's class name, ``message`` its text), or
    the child died without an answer (``kind`` empty)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def bounded_call(
    function: Callable[..., tuple[str, str]], *args: object, seconds: float
) -> tuple[str, str]:
    """``function(*args)`` (which returns two strings) run in a forked child; Overtime after
    ``seconds`` of wall-clock time, ChildFailed when it raised. Without fork (not POSIX), it
    runs here, unbounded."""
    if not hasattr(os, "fork"):
        return function(*args)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, answer, leave without running the parent's cleanup
        status = 0
        try:
            os.close(read_end)
            try:
                answer = {"ok": list(function(*args))}
            except BaseException as exc:  # reported to the parent, whatever it is
                answer = {"error": [type(exc).__name__, str(exc)[:1000]]}
            payload = json.dumps(answer).encode()
            view = memoryview(payload)
            while view:
                view = view[os.write(write_end, view) :]
        except BaseException:  # nothing else may run in the child
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        payload = _read_until(read_end, deadline=time.monotonic() + seconds)
    except BaseException:
        # Overtime, or the parent itself interrupted (a task's soft time limit): the child
        # must not outlive the call.
        _kill(pid)
        raise
    finally:
        os.close(read_end)
    os.waitpid(pid, 0)
    try:
        answer = json.loads(payload)
    except ValueError:
        raise ChildFailed("", "the reader stopped without an answer") from None
    if "error" in answer:
        raise ChildFailed(*answer["error"])
    title, text = answer["ok"]
    return title, text


def _read_until(fd: int, *, deadline: float) -> bytes:
    parts: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Overtime
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            raise Overtime
        chunk = os.read(fd, _READ)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
