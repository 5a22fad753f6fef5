"""Under pytest-xdist (./dev test runs the suite on several workers) each worker has a Redis
prefix, a Celery queue and a data folder of its own, and so do the processes it starts
(tests/conftest.py, pytest_xdist_setupnodes). Serially there is nothing to tell apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.conftest import ROOT

WORKER = os.environ.get("PYTEST_XDIST_WORKER")
pytestmark = pytest.mark.skipif(WORKER is None, reason="only under pytest-xdist (-n)")

SHOW = """
import json
import django
django.setup()
from django.conf import settings
print(json.dumps([settings.REDIS_PREFIX, settings.CELERY_TASK_DEFAULT_QUEUE,
                  str(settings.DATA_DIR), settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
                  .get("prefix"), settings.CACHES["default"].get("KEY_PREFIX")]))
"""


def test_the_queue_channels_cache_and_data_folder_are_the_workers_own():
    # The prefix itself is checked before any test runs (tests/conftest.py, pytest_configure);
    # here, that everything keyed in Redis is built from it.
    queue = settings.CELERY_TASK_DEFAULT_QUEUE  # what a Celery worker started here consumes
    assert queue == f"{settings.REDIS_PREFIX}-default"
    if settings.REDIS_URL:
        assert settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"].startswith(
            f"{settings.REDIS_PREFIX}:"
        )
        assert settings.CACHES["default"]["KEY_PREFIX"].startswith(f"{settings.REDIS_PREFIX}:")
    if "AIPORTAL_DATA_DIR" in os.environ:
        assert settings.DATA_DIR.name == WORKER


def test_a_process_the_worker_starts_sees_the_same():
    # What a Daphne or a Celery worker started by this worker reads: the inherited environment.
    result = subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "aiportal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    prefix, queue, data_dir, ws_prefix, cache_prefix = json.loads(result.stdout)
    assert (prefix, queue, data_dir) == (
        settings.REDIS_PREFIX,
        settings.CELERY_TASK_DEFAULT_QUEUE,
        str(settings.DATA_DIR),
    )
    assert ws_prefix == settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix")
    assert cache_prefix == settings.CACHES["default"].get("KEY_PREFIX")
