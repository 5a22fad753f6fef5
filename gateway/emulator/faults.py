"""Injected faults: the ways a real worker fails, on demand, from the command line or at run
time through ``POST /emulator/faults``.

A fault spec replaces the previous one as a whole (no merging: a test states exactly what it
wants). ``times`` makes it clear itself after that many uses; a use is one generation request
that the spec affects, or one ``/health`` probe answered unhealthy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


class FaultSpecError(ValueError):
    """The JSON posted to /emulator/faults does not describe a fault."""


@dataclass(frozen=True)
class FaultSpec:
    # Drop the connection after this many tokens, as a crashed worker would: no error frame,
    # no [DONE], the chunked body just ends.
    die_after_tokens: int | None = None
    # Fail before the first token: an error frame then [DONE] when streaming, a 500 otherwise.
    fail_before_first_token: bool = False
    # Send an error frame then [DONE] after this many tokens (a failure vLLM reports in-band).
    error_after_tokens: int | None = None
    # The status of those two in-band errors: 500 (None) is the engine failing; a 4xx is
    # vLLM rejecting this request while generating (a ValueError raised by its output
    # processing becomes a 400 frame: vllm/entrypoints/serve/exception_handling/
    # error_response.py), which is the request's fault and the same on every worker.
    error_code: int | None = None
    # End the answer after this many tokens with finish_reason "abort" (then usage and
    # [DONE]), as vLLM 0.34 does when its engine aborts a request (shutdown, a failed KV
    # transfer): a well-formed end that is not the answer's.
    abort_after_tokens: int | None = None
    # Answer a chat continuation (continue_final_message with a non-empty final message)
    # with vLLM's 400 for a chat template that alters the final message.
    refuse_continuation: bool = False
    # Refuse the request at once with this status, before any byte of a stream.
    status_503: bool = False
    status_500: bool = False
    # Stop sending after this many tokens for stall_seconds (None: until the client leaves),
    # keeping the connection open.
    stall_after_tokens: int | None = None
    stall_seconds: float | None = None
    # GET /health answers 503.
    unhealthy: bool = False
    # Clear the whole spec after this many uses; None: until cleared.
    times: int | None = None

    @property
    def affects_requests(self) -> bool:
        return (
            self.die_after_tokens is not None
            or self.fail_before_first_token
            or self.error_after_tokens is not None
            or self.abort_after_tokens is not None
            or self.refuse_continuation
            or self.status_503
            or self.status_500
            or self.stall_after_tokens is not None
        )

    @property
    def active(self) -> bool:
        return self.affects_requests or self.unhealthy

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value not in (None, False)}

    @classmethod
    def from_json(cls, data: object) -> FaultSpec:
        if not isinstance(data, dict):
            raise FaultSpecError("a fault spec is a JSON object")
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FaultSpecError(f"unknown fault field(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        counts = ("die_after_tokens", "error_after_tokens", "abort_after_tokens")
        for name in (*counts, "stall_after_tokens", "times"):
            if data.get(name) is not None:
                values[name] = _non_negative_int(name, data[name])
        flags = ("fail_before_first_token", "status_503", "status_500", "refuse_continuation")
        for name in (*flags, "unhealthy"):
            if name in data:
                if not isinstance(data[name], bool):
                    raise FaultSpecError(f"{name} must be true or false")
                values[name] = data[name]
        if data.get("stall_seconds") is not None:
            seconds = data["stall_seconds"]
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise FaultSpecError("stall_seconds must be a number >= 0")
            values["stall_seconds"] = float(seconds)
        if "stall_seconds" in values and "stall_after_tokens" not in values:
            raise FaultSpecError("stall_seconds needs stall_after_tokens")
        if data.get("error_code") is not None:
            code = data["error_code"]
            if isinstance(code, bool) or not isinstance(code, int) or not 400 <= code <= 599:
                raise FaultSpecError("error_code must be an HTTP error status (400-599)")
            values["error_code"] = code
        if values.get("times") == 0:
            raise FaultSpecError("times must be >= 1")
        return cls(**values)


def _non_negative_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FaultSpecError(f"{name} must be an integer >= 0")
    return value


class FaultController:
    """Holds the current spec and counts its uses. Single event loop: no locking needed."""

    def __init__(self, initial: FaultSpec | None = None) -> None:
        self._spec = initial or FaultSpec()
        self._remaining = self._spec.times

    @property
    def spec(self) -> FaultSpec:
        return self._spec

    def set(self, spec: FaultSpec) -> None:
        self._spec = spec
        self._remaining = spec.times

    def clear(self) -> None:
        self.set(FaultSpec())

    def _use(self) -> None:
        if self._remaining is None:
            return
        self._remaining -= 1
        if self._remaining <= 0:
            self.clear()

    def take_for_request(self) -> FaultSpec:
        """The faults that apply to a new generation request; counts one use if any do."""
        spec = self._spec
        if not spec.affects_requests:
            return FaultSpec()
        self._use()
        return spec

    def take_health(self) -> bool:
        """True when this /health probe must answer unhealthy; counts one use if so."""
        if not self._spec.unhealthy:
            return False
        self._use()
        return True

    def to_json(self) -> dict[str, Any]:
        state = self._spec.to_json()
        if self._remaining is not None:
            state["remaining"] = self._remaining
        return state
