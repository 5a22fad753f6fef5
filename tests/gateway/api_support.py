"""A real Daphne serving the /v1 API in front of five emulated workers, shared by the /v1 test
modules (started once per session, on first use), and helpers to call it.

The workers, one model each, so a test picks its worker by the model it names:
- ``aiportal-emulator``: fast, context length 1024 (longer prompts are a 400);
- ``slow-emulator``: 4 tokens/s, so a test can act while a stream is still running;
- ``dying-emulator``: fails in-band after 3 tokens (an error frame, then [DONE]);
- ``broken-emulator``: refuses every request with a 503.

Caps are set low so tests can cross them with small bodies; AIPORTAL_USER_MAX_STREAMS is 1
with no queueing, so a second stream of the same user is a 429 at once; the per-minute limits
count over 3 s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from tests.conftest import Process, _database_url, start_daphne, start_emulator

FAST, SLOW = "aiportal-emulator", "slow-emulator"
DYING, BROKEN = "dying-emulator", "broken-emulator"
THINKING = "thinking-emulator"  # a reasoning model (--reasoning-parser)
LIMITS = {
    "AIPORTAL_API_MAX_BODY_BYTES": "4096",
    "AIPORTAL_API_MAX_MESSAGES": "8",
    "AIPORTAL_API_MAX_N": "2",
    "AIPORTAL_API_MAX_TOOLS_BYTES": "512",
    "AIPORTAL_MAX_TOKENS": "64",
    "AIPORTAL_USER_MAX_STREAMS": "1",
    "AIPORTAL_QUEUE_TIMEOUT_MS": "0",
    # The per-minute limits count over 3 s here, so a test sees a window pass; no limit
    # applies until a test sets one (tests/gateway/test_api_rate_limits.py).
    "AIPORTAL_RATE_LIMIT_WINDOW": "3",
}


@dataclass
class ApiServer:
    url: str
    daphne: Process
    workers: dict[str, str]  # model → emulator URL

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"

    def log(self) -> str:
        return "".join(self.daphne.output)


_shared: dict[str, ApiServer] = {}
_processes: list[Process] = []


def api_servers_stop() -> None:
    """Stop the server and its workers (idempotent): from a session fixture's teardown, so
    Daphne has let go of the test database before pytest-django drops it."""
    for process in _processes:
        process.stop()
    _processes.clear()
    _shared.clear()


def api_server_start(django_db_blocker) -> ApiServer:
    """The session's API server, started on first use; see ``api_servers_stop``."""
    if "server" in _shared:
        return _shared["server"]
    flags = {
        FAST: ("--tokens-per-second", "2000", "--max-model-len", "1024"),
        SLOW: ("--tokens-per-second", "4"),
        DYING: ("--tokens-per-second", "500", "--error-after-tokens", "3"),
        BROKEN: ("--status-503",),
        THINKING: ("--tokens-per-second", "2000", "--reasoning-parser", "qwen3"),
    }
    workers: dict[str, str] = {}
    for model, extra in flags.items():
        process, url = start_emulator("--model", model, "--ttft-ms", "5", *extra)
        _processes.append(process)
        workers[model] = url
    with django_db_blocker.unblock():
        database_url = _database_url()
    daphne, url = start_daphne(
        {
            **LIMITS,
            "DATABASE_URL": database_url,
            "AIPORTAL_WORKERS": ",".join(f"{url}@test-a" for url in workers.values()),
            "AIPORTAL_METRICS_TOKEN": "",
            "LOG_LEVEL": "DEBUG",
        }
    )
    _processes.append(daphne)
    server = ApiServer(url=url, daphne=daphne, workers=workers)
    with django_db_blocker.unblock():
        _wait_for_models(server)
    _shared["server"] = server
    return server


def _wait_for_models(server: ApiServer, timeout: float = 20) -> None:
    """Until the gateway has seen every worker (its prober's first round), /v1/models may be
    short of some; wait for all five once, with a throwaway user."""
    from accounts.models import User
    from gateway.keys import apikey_create

    user = User.objects.create_user(username="warmup@example.com", email="warmup@example.com")
    _, token = apikey_create(user=user, name="warm-up")
    deadline = time.monotonic() + timeout
    try:
        while True:
            response = httpx.get(f"{server.v1}/models", headers=bearer(token), timeout=5)
            seen = {item["id"] for item in response.json().get("data", [])}
            if seen >= {FAST, SLOW, DYING, BROKEN, THINKING}:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"/v1/models never listed every worker: {response.text}")
            time.sleep(0.1)
    finally:
        user.delete()


def fast_passwords(settings) -> None:
    """The people fixtures hash a real password (PBKDF2, ~0.3 s each); these tests never
    check one, so a fast hasher keeps them quick."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def key_for(user, *, name: str = "test", expires_in: timedelta | None = None) -> str:
    from django.utils import timezone

    from gateway.keys import apikey_create

    expires_at = timezone.now() + expires_in if expires_in else None
    return apikey_create(user=user, name=name, expires_at=expires_at)[1]


def chat(content: str = "Say something.", **extra: Any) -> dict[str, Any]:
    return {"model": FAST, "messages": [{"role": "user", "content": content}], **extra}


def emulator_state(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/emulator/state", timeout=5).json()


def wait_until(check, *, timeout: float = 10, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def usage_settled(user, count: int) -> list:
    """Wait for the user's ``count`` usage records (one per request that reached the proxy)
    and return them, newest first. Also what keeps a test from ending while Daphne still
    writes one: the test database's flush would deadlock with that insert."""
    from gateway.models import UsageRecord

    rows = UsageRecord.objects.filter(user=user).order_by("-created_at", "-pk")
    wait_until(lambda: rows.count() >= count, what=f"{count} usage record(s)")
    found = list(rows)
    assert len(found) == count, [(r.outcome, r.model) for r in found]
    return found
