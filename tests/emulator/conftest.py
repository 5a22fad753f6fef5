"""Fixtures for the emulator's tests: emulators served in-process on a free port in the
test's own event loop, and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from gateway.emulator import EmulatorConfig, running_emulator

StartEmulator = Callable[..., Awaitable[str]]


@pytest.fixture
async def start_emulator() -> AsyncIterator[StartEmulator]:
    """Start emulators with ``EmulatorConfig.fast()`` plus overrides; all stop at the end."""
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> str:
            config = EmulatorConfig.fast(**overrides)
            return await stack.enter_async_context(running_emulator(config))

        yield start


@pytest.fixture
async def url(start_emulator: StartEmulator) -> str:
    return await start_emulator()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield http
