#!/usr/bin/env python3
"""Container health checks of the aiportal image: ``aiportal-healthcheck ROLE [ARG]``.

- ``web [PORT]``: GET /healthz on this container's Daphne (which also queries the database).
- ``worker [NODE]``: this container's Celery worker answers a ping through the broker.
- ``beat [SCHEDULE]``: beat has written its schedule file lately (it does every few minutes
  while it ticks; a wedged or dead beat stops).

Exit status 0 is healthy and 1 is not, as Docker expects; the reason goes to stdout, which
`docker inspect` shows.
"""

from __future__ import annotations

import glob
import http.client
import os
import socket
import sys
import time

# Beat writes its schedule at least every 3 minutes (Celery's sync interval) while it runs.
BEAT_MAX_AGE_S = 600


def _host_header() -> str:
    """A host name Django accepts (ALLOWED_HOSTS, else the first AIPORTAL_DOMAIN name)."""
    for variable in ("ALLOWED_HOSTS", "AIPORTAL_DOMAIN"):
        for name in os.environ.get(variable, "").split(","):
            name = name.strip().lstrip(".")
            if name and name != "*":
                return name
    return "localhost"


def check_web(port: str = "8000") -> str | None:
    connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=4)
    try:
        # No redirect is followed: one would leave the container.
        connection.request("GET", "/healthz", headers={"Host": _host_header()})
        status = connection.getresponse().status
    except OSError as exc:
        return f"web: no answer on port {port}: {exc}"
    finally:
        connection.close()
    return None if status == 200 else f"web: /healthz answered {status}"


def check_worker(node: str = "", timeout: float = 10) -> str | None:
    """``node`` defaults to Celery's own name for a worker on this host (in compose, the
    container's), so a worker elsewhere cannot answer for this one."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiportal.settings")
    from aiportal.celery import app

    node = node or f"celery@{socket.gethostname()}"
    if app.control.ping(destination=[node], timeout=timeout):
        return None
    return f"worker: {node} did not answer a ping"


def check_beat(schedule: str = "/tmp/celerybeat-schedule") -> str | None:  # noqa: S108
    # The shelve behind it may be one file or several (schedule.db, .dat, .dir).
    files = glob.glob(glob.escape(schedule) + "*")
    if not files:
        return f"beat: no schedule file at {schedule}"
    age = time.time() - max(os.path.getmtime(name) for name in files)
    if age > BEAT_MAX_AGE_S:
        return f"beat: the schedule was last written {age:.0f} s ago"
    return None


CHECKS = {"web": check_web, "worker": check_worker, "beat": check_beat}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in CHECKS:
        print(f"usage: aiportal-healthcheck {'|'.join(CHECKS)} [ARG]")
        return 2
    problem = CHECKS[argv[0]](*argv[1:2])
    if problem:
        print(problem)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
