"""Usage records: one row per request, written after it ends.

The proxy calls ``usage_record`` once per request, for chat and ``/v1`` alike. Recording is
bookkeeping: a failure to write must never turn a delivered answer into an error, so nothing
here raises into the caller (failures are logged). ``usage_record_later`` queues the record for
a task of its own that writes the records of many requests in one INSERT, for callers that
are being cancelled (a client that went away) and must not await anything more. A process
killed outright loses at most the last ``BATCH_SECONDS`` of records (the token budgets, in
Redis, are counted at once and lose nothing).

State: ``_batchers``, the batch writer per event loop, which ends with its loop; never reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from datetime import UTC, datetime
from typing import Any

from channels.db import database_sync_to_async
from django.db.models import Sum
from django.utils import timezone

from gateway.models import UsageRecord
from gateway.request_id import request_id_current

logger = logging.getLogger(__name__)

_INT_FIELDS = ("prompt_tokens", "completion_tokens", "duration_ms", "failovers", "continued")
_TEXT_FIELDS = {"model": 200, "worker": 255, "region": 64, "request_id": 64}
_KNOWN = {
    "user_id", "api_key_id", "source", "outcome", "ttft_ms", "cached_tokens", "created_at",
    *_INT_FIELDS, *_TEXT_FIELDS,
}  # fmt: skip
_OUTCOMES = set(UsageRecord.Outcome.values)


def _count(value: Any) -> int:
    """A non-negative int from what the proxy measured (an int, a bool, a float, None)."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _row(fields: dict[str, Any]) -> UsageRecord:
    unknown = sorted(set(fields) - _KNOWN)
    if unknown:
        logger.warning("usage_record ignores unknown fields: %s", ", ".join(unknown))
    outcome = str(fields.get("outcome") or UsageRecord.Outcome.ERROR)
    if outcome not in _OUTCOMES:
        logger.warning("usage_record: unknown outcome %r recorded as is", outcome)
    api_key_id = fields.get("api_key_id")
    # Requests with a key came through /v1; the chat has none.
    source = fields.get("source") or (
        UsageRecord.Source.API if api_key_id else UsageRecord.Source.CHAT
    )
    ttft = fields.get("ttft_ms")
    cached = fields.get("cached_tokens")
    row = UsageRecord(
        user_id=fields.get("user_id"),
        api_key_id=api_key_id,
        source=source,
        outcome=outcome[:16],
        ttft_ms=None if ttft is None else _count(ttft),
        cached_tokens=None if cached is None else _count(cached),
        **{name: _count(fields.get(name)) for name in _INT_FIELDS},
        **{name: str(fields.get(name) or "")[:size] for name, size in _TEXT_FIELDS.items()},
    )
    if fields.get("created_at") is not None:
        row.created_at = fields["created_at"]
    return row


def usage_record_sync(**fields: Any) -> UsageRecord | None:
    """Write one usage record; returns it, or None when writing failed (logged)."""
    try:
        row = _row(fields)
        row.save(force_insert=True)
        return row
    except Exception:
        logger.exception("could not write a usage record for %s", fields.get("model"))
        return None


# Not thread-sensitive: hundreds of streams ending at once must not queue for one thread.
# database_sync_to_async also closes the connection the worker thread used.
_record_in_thread = database_sync_to_async(usage_record_sync, thread_sensitive=False)


async def usage_record(**fields: Any) -> UsageRecord | None:
    """Write one usage record. Fields: user_id, api_key_id, source (chat|api|title; default api
    when there is a key), model, worker, region, prompt_tokens, completion_tokens, ttft_ms,
    duration_ms, outcome (complete|stopped|interrupted|error|rejected), failovers, continued,
    cached_tokens (None: the worker did not report them), request_id (default: the current
    request's). Never raises (except cancellation of the caller itself)."""
    fields.setdefault("request_id", request_id_current())
    try:
        return await _record_in_thread(**fields)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("could not write a usage record")
        return None


def usage_records_sync(rows: list[dict[str, Any]]) -> int:
    """Write many usage records in one INSERT; when the batch is refused (one row's user was
    deleted meanwhile, say), row by row so the others are kept. Returns how many were
    written; never raises."""
    try:
        return len(UsageRecord.objects.bulk_create([_row(fields) for fields in rows]))
    except Exception:
        logger.warning("a batch of %s usage records was refused; writing one by one", len(rows))
    return sum(usage_record_sync(**fields) is not None for fields in rows)


_records_in_thread = database_sync_to_async(usage_records_sync, thread_sensitive=False)

# Records wait this long to be written with those of the requests that end meanwhile: at 64
# streams one INSERT replaces dozens, each of which cost a thread hop and a round trip.
BATCH_SECONDS = 0.25
BATCH_ROWS = 500


class _Batcher:
    """This event loop's pending usage records and the task that writes them."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None
        self.hurry = asyncio.Event()

    def add(self, fields: dict[str, Any]) -> None:
        self.rows.append(fields)
        if len(self.rows) >= BATCH_ROWS:
            self.hurry.set()
        if self.task is None or self.task.done():
            # Its own task: it outlives the request (a cancelled stream's included).
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self.rows:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(BATCH_SECONDS):
                    await self.hurry.wait()
            self.hurry.clear()
            rows, self.rows = self.rows[:BATCH_ROWS], self.rows[BATCH_ROWS:]
            try:
                await _records_in_thread(rows)
            except Exception:
                logger.exception("could not write %s usage records", len(rows))

    async def flush(self) -> None:
        while self.task is not None and not self.task.done():
            self.hurry.set()
            await asyncio.gather(self.task, return_exceptions=True)


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batcher] = (
    weakref.WeakKeyDictionary()
)


def _batcher() -> _Batcher:
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = _Batcher()
    return batcher


def usage_record_later(**fields: Any) -> None:
    """Queue a usage record (the fields of ``usage_record``); it is written within
    ``BATCH_SECONDS`` together with the others queued meanwhile, by a task that outlives a
    cancelled caller. Never raises and never waits: the proxy calls it as a stream ends.
    Without a ``request_id``, the current request's (gateway/request_id.py): read here, in
    the request's context, since the batch is written from a task of its own."""
    fields.setdefault("request_id", request_id_current())
    _batcher().add(fields)


async def usage_flush() -> None:
    """Write the records queued by ``usage_record_later`` now and wait for it (tests)."""
    await _batcher().flush()


def usage_tokens_since(*, user_id: int, since: datetime) -> int:
    """Prompt plus completion tokens the user spent since ``since`` (budgets, the admin)."""
    totals = UsageRecord.objects.filter(user_id=user_id, created_at__gte=since).aggregate(
        prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens")
    )
    return (totals["prompt"] or 0) + (totals["completion"] or 0)


def usage_tokens_today(*, user_id: int, now: datetime | None = None) -> int:
    """Tokens spent since the start of the current UTC day."""
    now = (now or timezone.now()).astimezone(UTC)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return usage_tokens_since(user_id=user_id, since=start)


def usage_prefix_cache_by_worker(*, since: datetime) -> dict[str, tuple[int, int]]:
    """Per worker name, the prompt tokens and the cached prompt tokens of the requests it
    answered since ``since`` that reported cached tokens (the pool page's hit rate as the
    gateway saw it). Continued answers are left out: their cached tokens are the first
    worker's, their record names the last one."""
    rows = (
        UsageRecord.objects.filter(created_at__gte=since, cached_tokens__isnull=False, continued=0)
        .exclude(worker="")
        .values("worker")
        .annotate(prompt=Sum("prompt_tokens"), cached=Sum("cached_tokens"))
    )
    return {row["worker"]: (row["prompt"] or 0, row["cached"] or 0) for row in rows}
