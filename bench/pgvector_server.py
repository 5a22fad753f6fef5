"""A PostgreSQL 16 with pgvector for the scale bench and the tests: ``pgserver`` (PyPI) ships
the server binaries with the extension, started here in a short temporary folder (its Unix
socket lives there, and socket paths are limited to about 100 characters)."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def pgvector_server() -> Iterator[Callable[[], str]]:
    """Yields ``database()``, which creates an empty database and returns its URL; the
    server stops and its folder goes at the end."""
    import pgserver

    folder = tempfile.mkdtemp(prefix="pgv-", dir="/tmp")
    server = pgserver.get_server(f"{folder}/d", cleanup_mode="delete")

    def database() -> str:
        name = f"v_{uuid.uuid4().hex[:12]}"
        server.psql(f"CREATE DATABASE {name};")
        return server.get_uri(name)

    try:
        yield database
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
