"""Fixtures for the dataset tests: the three people and a dataset, plain-text uploads, and a
real Celery worker process (against the test database and Redis) that a test may kill."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Process, _database_url

WAIT = 60  # seconds: an upper bound for one event, never a sleep
LEASE_S = 3  # short, so a killed worker's job is taken over within seconds


@pytest.fixture(autouse=True)
def datasets_dir(settings, tmp_path) -> Path:
    settings.AIPORTAL_DATASETS_DIR = tmp_path / "datasets"
    return settings.AIPORTAL_DATASETS_DIR


@pytest.fixture
def dataset(owner):
    from datasets.services import dataset_create

    return dataset_create(user=owner, name="Team handbook", description="What we know")


@pytest.fixture
def upload(owner):
    """``upload(dataset, {"a.txt": "text"}, kind="upload")``: store the files as a person's
    upload would be, and make them the dataset's only source."""
    from datasets.models import Source
    from datasets.services import dataset_files_dir, source_add
    from datasets.sources import upload_store

    def make(dataset, files: dict[str, str | bytes], *, kind: str = "upload", **config) -> Source:
        stored = []
        for name, text in files.items():
            data = text.encode() if isinstance(text, str) else text
            name_stored = upload_store(
                files_dir=dataset_files_dir(dataset=dataset), name=name, chunks=[data]
            )
            stored.append({"stored": name_stored, "name": name})
        dataset.sources.all().delete()
        if kind == "upload":
            return source_add(dataset=dataset, user=owner, kind="upload", config={"files": stored})
        # A test-only kind (tests/datasets/slow_worker.py): written around the service,
        # which accepts only the real kinds.
        return Source.objects.create(dataset=dataset, kind=kind, config={"files": stored, **config})

    return make


def job_wait(job_id: int, predicate: Callable, *, timeout: float = WAIT, worker=None):
    """Poll the job row until ``predicate(job)``; fail with the worker's output if not."""
    from datasets.models import RefillJob

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = RefillJob.objects.get(pk=job_id)
        if predicate(job):
            return job
        time.sleep(0.05)
    output = "".join(worker.output[-60:]) if worker else ""
    raise AssertionError(f"job {job_id} never got there: {job.status} {job.counts}\n{output}")


def corpus(n: int) -> dict[str, str]:
    """``n`` documents, each with words found only in it: ``marker<i>x<paragraph>``."""
    return {
        f"doc{i:02}.txt": "\n\n".join(
            f"marker{i}x{p} section of document {i}. " + "ordinary words " * 40 for p in range(4)
        )
        for i in range(n)
    }


class Worker:
    """``celery -A aiportal worker --pool solo`` with the test's database, Redis prefix and
    uploads folder, through tests/datasets/slow_worker.py (which adds the test-only
    ``slow-upload`` kind: plain uploads, AIPORTAL_TEST_DOCUMENT_DELAY_S apart)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process: Process | None = None

    def start(self) -> None:
        self.process = Process(
            [
                sys.executable,
                "-m",
                "tests.datasets.slow_worker",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--without-mingle",
                "--without-gossip",
            ],
            env=self.env,
        )
        self.process.wait_for_line(re.compile(r"celery@\S+ ready"), timeout=WAIT)

    @property
    def output(self) -> list[str]:
        return self.process.output if self.process else []

    def kill(self) -> None:
        """kill -9: no warm shutdown, no ack, no cleanup."""
        os.killpg(self.process.popen.pid, signal.SIGKILL)
        self.process.popen.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@pytest.fixture
def celery_worker(transactional_db, settings, datasets_dir) -> Iterator[Worker]:
    """A real worker process (stopped at the end). Tests that use it need committed rows,
    hence ``transactional_db``; the test process's settings are made to agree with it."""
    settings.AIPORTAL_DATASET_LEASE = LEASE_S
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "AIPORTAL_DB_POOL": "false",
        "AIPORTAL_DATASETS_DIR": str(datasets_dir),
        "AIPORTAL_DATASET_LEASE_S": str(LEASE_S),
        "AIPORTAL_DATASET_PROGRESS_INTERVAL_MS": "100",
        "AIPORTAL_DATASET_RETRY_BACKOFF_S": "1",
        "AIPORTAL_DATASET_REFILL_RETRIES": "2",
        # A killed worker's message is handed out again this soon.
        "AIPORTAL_CELERY_VISIBILITY_TIMEOUT_S": "2",
    }
    worker = Worker(env)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def refill_now(owner):
    """Run a refill in this process, start to end, through the same service the task calls."""
    from datasets.models import RefillJob
    from datasets.services.refill import dataset_refill_start, refill_job_run

    def run(dataset, *, user=None) -> RefillJob:
        job = dataset_refill_start(dataset=dataset, user=user or owner)
        refill_job_run(job_id=job.pk, worker="test-runner")
        job.refresh_from_db()
        dataset.refresh_from_db()
        return job

    return run
