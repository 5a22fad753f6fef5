"""Fixtures for the security regression suite: the dataset fixtures (a dataset, uploads, a
refill run in this process) and the shared /v1 server, borrowed from the suites that own
them so each file here reads as one class of attack across the whole product."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chat.conftest import (  # noqa: F401
    _fresh_channel_layer,
    _no_generated_titles,
    _no_idle_sessions_left,
    no_leftover_generations,
)
from tests.conftest import Process, _database_url, start_daphne
from tests.datasets.conftest import dataset, datasets_dir, refill_now, upload  # noqa: F401
from tests.gateway.api_support import ApiServer, api_server_start, api_servers_stop
from tests.mcp_server import mcp, mcp_server  # noqa: F401 (tools over MCP)
from tests.tools.conftest import tool_users  # noqa: F401

METRICS_TOKEN = "metrics-token-for-the-security-suite"


@pytest.fixture(scope="session")
def api(django_db_setup, django_db_blocker) -> Iterator[ApiServer]:
    """The session's /v1 Daphne (tests/gateway/api_support.py), shared with tests/gateway."""
    yield api_server_start(django_db_blocker)
    api_servers_stop()


@pytest.fixture(scope="session")
def guarded_daphne(
    django_db_setup, django_db_blocker, emulator_url
) -> Iterator[tuple[str, Process]]:
    """A Daphne with /metrics behind a token and logging at DEBUG, for the tests that need
    either (auth bypass, secrets in logs): (its URL, its process, whose output is kept)."""
    with django_db_blocker.unblock():
        database_url = _database_url()
    process, url = start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_WORKERS": f"{emulator_url}@test-a",
            "AIPORTAL_METRICS_TOKEN": METRICS_TOKEN,
            "LOG_LEVEL": "DEBUG",
        }
    )
    yield url, process
    process.stop()
