from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def migrated_template(django_db_setup) -> str:
    """For a test that runs a bench which makes its own PostgreSQL database: the name of a
    migrated one to copy instead of migrating from nothing (tests/conftest.py's
    ``django_db_setup`` makes it and sets ``AIPORTAL_BENCH_TEMPLATE_DB``, which the bench
    reads), or "" when the run made no test database. Asked for by name: a bench test may be
    its worker's first test that needs the database."""
    return os.environ.get("AIPORTAL_BENCH_TEMPLATE_DB", "")
