"""The stack the edge tests run through: compose/Caddyfile in Caddy, in front of a real
Daphne, in front of an emulated worker that stalls every answer after a few tokens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import _database_url, start_daphne, start_emulator
from tests.deploy.edge import Edge, edge_start

TOKENS_BEFORE_STALL = 3


class Stack:
    """The three URLs: the edge (the way in), Daphne behind it, the worker behind that."""

    def __init__(self, edge: Edge, daphne_url: str, emulator_url: str) -> None:
        self.edge, self.daphne_url, self.emulator_url = edge, daphne_url, emulator_url


@pytest.fixture(scope="package")
def stack(django_db_setup, django_db_blocker) -> Iterator[Stack]:
    """Started once for tests/deploy; tests that write rows Daphne reads need
    ``transactional_db``."""
    emulator, emulator_url = start_emulator(
        "--ttft-ms", "5", "--stall-after-tokens", str(TOKENS_BEFORE_STALL), region="edge"
    )
    with django_db_blocker.unblock():
        database_url = _database_url()
    daphne, daphne_url = start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_WORKERS": f"{emulator_url}@edge",
            "AIPORTAL_CHAT_TITLES": "false",
            "AIPORTAL_METRICS_TOKEN": "",  # /metrics then answers loopback, as the edge is
        }
    )
    edge = edge_start(daphne_url)
    yield Stack(edge, daphne_url, emulator_url)
    edge.stop()
    daphne.stop()
    emulator.stop()
