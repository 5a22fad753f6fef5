"""Daphne as ``aiportal.serve`` runs it, with uploads read slowly (AIPORTAL_TEST_DOCUMENT_DELAY_S
before each document), so a test can see a refill under way: ``python -m
tests.pages.eager_serve -b HOST -p PORT aiportal.asgi:application``."""

from __future__ import annotations

import os
import time

from datasets import sources

_real_iter_documents = sources.iter_documents


def _slow_iter_documents(*, kind, config, files_dir, known, reader=None):
    delay = float(os.environ.get("AIPORTAL_TEST_DOCUMENT_DELAY_S", "0"))
    for item in _real_iter_documents(
        kind=kind, config=config, files_dir=files_dir, known=known, reader=reader
    ):
        time.sleep(delay)
        yield item


sources.iter_documents = _slow_iter_documents

if __name__ == "__main__":
    from aiportal.serve import main

    main()
