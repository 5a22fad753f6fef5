"""Fixtures for the account data tests (imported by the test modules that use them): signed-in
clients, a staff client, and a real Celery worker process for the export job."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import Process, _database_url

WAIT = 60  # seconds: an upper bound for one event, never a sleep


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff(make_user):
    return make_user("admin@example.com", is_staff=True)


@pytest.fixture
def staff_client(staff) -> Client:
    return signed_in(staff)


@pytest.fixture
def data_dir(settings, tmp_path) -> Path:
    """A data folder (exports) and a datasets folder of the test's own."""
    settings.DATA_DIR = tmp_path / "data"
    settings.AIPORTAL_DATASETS_DIR = tmp_path / "datasets"
    return settings.DATA_DIR


@pytest.fixture(scope="module")
def _export_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """One ``celery -A aiportal worker`` for the module, on the test database and this run's
    Redis prefix, with its data folders under a temporary directory."""
    root = tmp_path_factory.mktemp("worker")
    with django_db_blocker.unblock():
        database_url = _database_url()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AIPORTAL_DB_POOL": "false",
        "AIPORTAL_DATA_DIR": str(root / "data"),
        "AIPORTAL_DATASETS_DIR": str(root / "datasets"),
    }
    process = Process(
        [
            *(sys.executable, "-m", "celery", "-A", "aiportal", "worker"),
            *("--pool", "solo", "--loglevel", "INFO", "--without-mingle", "--without-gossip"),
        ],
        env=env,
    )
    process.wait_for_line(re.compile(r"celery@\S+ ready"), timeout=WAIT)
    yield process, root
    process.stop()


@pytest.fixture
def export_worker(_export_worker_process, transactional_db, settings) -> Iterator[Process]:
    """The real worker, with this process's settings agreeing with its folders. Tests that
    use it need committed rows, hence ``transactional_db``."""
    process, root = _export_worker_process
    settings.DATA_DIR = root / "data"
    settings.AIPORTAL_DATASETS_DIR = root / "datasets"
    yield process


def wait_for(predicate: Callable[[], object], *, what: str, worker: Process | None = None):
    """Poll until ``predicate()`` is truthy and return it; fail with the worker's output."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    output = "".join(worker.output[-60:]) if worker else ""
    raise AssertionError(f"{what} never happened\n{output}")
