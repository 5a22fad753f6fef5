"""A Celery worker for the tests, with two extra source kinds registered here only:
- ``slow-upload`` reads plain uploads exactly like ``upload`` but waits
  AIPORTAL_TEST_DOCUMENT_DELAY_S before each document, so a test can act mid-refill (kill the
  worker, cancel);
- ``flaky-upload`` fails whole with a retryable SourceError (as a server answering 503
  would) the first ``config["failures"]`` times it is read, counted in a file beside the
  uploads, then reads them like ``upload``.
Everything else is the real worker: ``python -m tests.datasets.slow_worker worker``."""

from __future__ import annotations

import os
import sys
import time

from datasets import sources

_real_iter_documents = sources.iter_documents


def _iter_documents(*, kind, config, files_dir, known, reader=None):
    if kind == "flaky-upload":
        counter = files_dir / "flaky-reads"
        reads = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(reads))
        if reads <= config["failures"]:
            raise sources.SourceError(f"503 on read {reads}", retryable=True)
        yield from _real_iter_documents(
            kind="upload", config=config, files_dir=files_dir, known=known
        )
        return
    if kind != "slow-upload":
        yield from _real_iter_documents(
            kind=kind, config=config, files_dir=files_dir, known=known, reader=reader
        )
        return
    delay = float(os.environ.get("AIPORTAL_TEST_DOCUMENT_DELAY_S", "0.5"))
    for item in _real_iter_documents(
        kind="upload", config=config, files_dir=files_dir, known=known
    ):
        time.sleep(delay)
        yield item


sources.iter_documents = _iter_documents

if __name__ == "__main__":
    from aiportal.celery import app

    app.worker_main(["worker", *sys.argv[2:]] if sys.argv[1:2] == ["worker"] else sys.argv[1:])
