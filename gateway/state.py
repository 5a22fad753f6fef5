"""The gateway's per-process state: where it lives, and the resets tests need.

Everything else in the gateway is stateless between calls. These modules hold state, each
saying so in its docstring ("State: …"):

Caches (a process that forgets them reads again; ``gateway_state_reset()`` resets them all):
- gateway/callers.py: the policy cache and the policies version last read
  (``policies_cache_clear``).
- gateway/key_cache.py: ``/v1`` key rows by prefix (``key_cache_clear``).
- gateway/pool.py: the last DNS answers and Worker rows, the parsed ``AIPORTAL_WORKERS``
  (``pool_state_reset``).
- gateway/telemetry/store.py: the in-process copy of the snapshot, this process's ORCA
  reports (``telemetry_reset``).
- gateway/telemetry/snapshot.py: the views last built, worker API keys
  (``snapshot_state_reset``).
- gateway/circuit.py: each worker's breaker and 503 back-off, per process by design
  (``circuits_reset``).

Kept for the life of the process or of its event loop, never reset (resetting would lose
running work or change no answer):
- gateway/routing.py: the round-robin counter and tie-break RNG (tests pass their own).
- gateway/policies/hashring.py: built hash rings, a pure memo keyed by the pool's members.
- gateway/inflight.py: the streams this process holds open, per worker.
- gateway/telemetry/snapshot.py: the running prober and refresh task, per event loop.
- gateway/admission_queue.py, gateway/usage.py, gateway/http.py: the fair queue, the usage
  batcher and the HTTP sessions, per event loop.
- gateway/http.py, gateway/attempt.py, gateway/api/auth.py: background tasks held so they are
  not collected before they end.
- gateway/redis.py, gateway/telemetry/election.py: Redis clients and held leader locks.
- gateway/rate_limits.py: one limiter per Redis client (it holds no counts).
- gateway/metrics.py: the Prometheus counters and gauges.
"""

from __future__ import annotations

from gateway.callers import policies_cache_clear
from gateway.circuit import circuits_reset
from gateway.key_cache import key_cache_clear
from gateway.pool import pool_state_reset
from gateway.telemetry.snapshot import snapshot_state_reset
from gateway.telemetry.store import telemetry_reset


def telemetry_state_reset(*, snapshots: bool = False) -> None:
    """Forget what this process knows of the pool: its copy of the snapshot and ORCA reports,
    the last DNS answers and Worker rows, the views and API keys read. With ``snapshots``,
    also delete the published snapshots under this ``REDIS_PREFIX`` (telemetry_reset)."""
    telemetry_reset(snapshots=snapshots)
    pool_state_reset()
    snapshot_state_reset()


def gateway_state_reset() -> None:
    """Every per-process cache of the gateway, and the published snapshots under this
    ``REDIS_PREFIX``, so that each test starts from a fresh probe and fresh policies."""
    telemetry_state_reset(snapshots=True)
    circuits_reset()
    policies_cache_clear()
    key_cache_clear()
