from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.conftest import Process, start_emulator
from tests.gateway.api_support import ApiServer, api_server_start, api_servers_stop


@pytest.fixture(scope="session")
def api(django_db_setup, django_db_blocker) -> Iterator[ApiServer]:
    """The shared Daphne serving /v1 in front of its five workers (tests/gateway/api_support.py),
    started on first use and stopped at the end of the session."""
    yield api_server_start(django_db_blocker)
    api_servers_stop()


@pytest.fixture
def emulators():
    """Start emulators with the given flags for one test; all are stopped at its end."""
    started: list[Process] = []

    def start(*flags: str, region: str = "test-a") -> str:
        process, url = start_emulator(
            "--tokens-per-second", "500", "--ttft-ms", "5", *flags, region=region
        )
        started.append(process)
        return url

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def pool(settings, monkeypatch):
    """Set the worker list, in the order given, and make the rotation start at the first."""
    import gateway.routing

    def configure(*entries: str) -> None:
        settings.AIPORTAL_WORKERS = ",".join(entries)
        monkeypatch.setattr(gateway.routing, "_rotation", itertools.count())

    return configure
