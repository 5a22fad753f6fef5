"""A circuit breaker per worker: stop sending requests to a worker that keeps failing.

closed → (AIPORTAL_CIRCUIT_FAILURES consecutive failures) → open → (AIPORTAL_CIRCUIT_COOLDOWN)
→ half-open: exactly one trial request goes through; its success closes the circuit, its
failure opens it for another cool-down. A failure is what makes the proxy leave a worker:
connect error, 5xx, first-frame or idle timeout, an error frame, a stream cut short. A 4xx
is the request's fault, not the worker's, and counts as a success (the worker answered).

A 503 is neither: vLLM answers it when its queue is full (``--max-num-queued-reqs``,
``--max-num-queued-tokens``), a worker that is well and busy. It counts no failure and marks
the worker busy for ``AIPORTAL_BUSY_BACKOFF_MS`` (``circuit_mark_busy``): routing tries it
after every other worker meanwhile, and a request finding only busy workers waits in the
fair queue (gateway/dispatch.py).

Per process, by design, not shared through Redis:
- ``circuit_is_open`` is asked for every worker on every snapshot and before every attempt;
  a local dict answers in nanoseconds, a Redis round trip would be on the hot path.
- A worker that is down for everyone is caught by the prober's health check, which *is*
  shared (one elected prober, every process reads its snapshot). The breaker is for what
  the probe misses — ``/health`` answers but requests fail — and each process learns that
  from its own requests within ``AIPORTAL_CIRCUIT_FAILURES`` of them, all of which fail over
  before the first token, invisible to users.
- Half-open needs "exactly one trial": a local flag gives that without a distributed lock;
  with N processes at most N trials run at once, each process's own.

State: ``_circuits`` and ``_busy_until``, per process; ``circuits_reset()`` (and
gateway/state.py's ``gateway_state_reset()``) resets them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings


@dataclass(slots=True)
class _Circuit:
    failures: int = 0
    opened_at: float | None = None  # monotonic time it (re)opened; None = closed
    trial: bool = False  # the half-open trial request is out


_circuits: dict[str, _Circuit] = {}
# Monotonic time until which a worker that answered 503 (its queue full) is tried last.
_busy_until: dict[str, float] = {}


def _cooled(circuit: _Circuit, now: float) -> bool:
    return circuit.opened_at is not None and now - circuit.opened_at >= (
        settings.AIPORTAL_CIRCUIT_COOLDOWN
    )


def circuit_is_open(url: str) -> bool:
    """True while the worker must get no request: open and cooling down, or half-open with
    its one trial already out. Asking does not change anything."""
    circuit = _circuits.get(url)
    if circuit is None or circuit.opened_at is None:
        return False
    if not _cooled(circuit, time.monotonic()):
        return True
    return circuit.trial


def circuit_state(url: str) -> str:
    """closed, open or half_open (for the admin page and tests)."""
    circuit = _circuits.get(url)
    if circuit is None or circuit.opened_at is None:
        return "closed"
    return "half_open" if _cooled(circuit, time.monotonic()) else "open"


def circuit_attempt_allowed(url: str) -> bool:
    """Claim the right to send a request now. When the circuit is half-open this takes the
    one trial; every caller after it is refused until the trial ends."""
    circuit = _circuits.get(url)
    if circuit is None or circuit.opened_at is None:
        return True
    if not _cooled(circuit, time.monotonic()) or circuit.trial:
        return False
    circuit.trial = True
    return True


def circuit_record_success(url: str) -> None:
    # Closed and no failures is the same as never seen: forget it (DNS workers come and go).
    _circuits.pop(url, None)


def circuit_record_failure(url: str) -> None:
    circuit = _circuits.setdefault(url, _Circuit())
    circuit.failures += 1
    if circuit.trial or circuit.failures >= settings.AIPORTAL_CIRCUIT_FAILURES:
        # A failed trial, or the threshold: (re)open for a full cool-down.
        circuit.opened_at = time.monotonic()
    circuit.trial = False


def circuit_release(url: str) -> None:
    """An attempt ended without a verdict (the client left): let the next one be the trial."""
    circuit = _circuits.get(url)
    if circuit is not None:
        circuit.trial = False


def circuit_mark_busy(url: str) -> None:
    """The worker refused a request because its queue is full: tried last for a moment.
    No failure is counted, and a half-open trial it was is free again (no verdict)."""
    _busy_until[url] = time.monotonic() + settings.AIPORTAL_BUSY_BACKOFF
    circuit_release(url)


def circuit_is_busy(url: str) -> bool:
    until = _busy_until.get(url)
    if until is None:
        return False
    if time.monotonic() < until:
        return True
    del _busy_until[url]  # DNS workers come and go: forget the ones whose back-off ended
    return False


def circuits_reset() -> None:
    _circuits.clear()
    _busy_until.clear()
