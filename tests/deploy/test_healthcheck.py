"""The image's health checks (compose/healthcheck.py, installed as aiportal-healthcheck) and
compose/make-secrets, run for real: against a live Daphne, a live Celery worker, beat's
schedule file, and a scratch secrets folder."""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import stat
import subprocess
import sys
import time

from tests.conftest import ROOT, Process, free_port

SCRIPT = ROOT / "compose" / "healthcheck.py"


def healthcheck(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def load_module():
    spec = importlib.util.spec_from_file_location("aiportal_healthcheck", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_web_is_healthy_when_daphne_answers_healthz(stack):
    port = stack.daphne_url.rsplit(":", 1)[1]
    result = healthcheck("web", port, env={"ALLOWED_HOSTS": "chat.example.org,localhost"})
    assert (result.returncode, result.stdout.strip()) == (1, "web: /healthz answered 400")
    # It presents the first allowed name as its Host, which Daphne's settings accept.
    result = healthcheck("web", port, env={"ALLOWED_HOSTS": "127.0.0.1"})
    assert (result.returncode, result.stdout.strip()) == (0, "ok")


def test_web_is_unhealthy_when_nothing_listens():
    result = healthcheck("web", str(free_port()))
    assert result.returncode == 1
    assert result.stdout.startswith("web: no answer on port")


def test_beat_is_healthy_while_it_keeps_writing_its_schedule(tmp_path):
    schedule = tmp_path / "celerybeat-schedule"
    assert (
        healthcheck("beat", str(schedule)).stdout.strip() == f"beat: no schedule file at {schedule}"
    )
    (tmp_path / "celerybeat-schedule.db").write_bytes(b"")
    assert healthcheck("beat", str(schedule)).returncode == 0
    stale = time.time() - 3600
    os.utime(tmp_path / "celerybeat-schedule.db", (stale, stale))
    result = healthcheck("beat", str(schedule))
    assert result.returncode == 1
    assert re.fullmatch(r"beat: the schedule was last written \d+ s ago", result.stdout.strip())


def test_an_unknown_role_is_a_usage_error():
    result = healthcheck("database")
    assert result.returncode == 2 and result.stdout.startswith("usage:")


def test_worker_is_healthy_only_while_its_own_worker_answers():
    node = f"healthcheck-{secrets.token_hex(4)}@test"
    worker = Process(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "aiportal",
            "worker",
            "--pool",
            "solo",
            "--hostname",
            node,
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "INFO",
        ],
        # A ping needs the broker alone: no database.
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
    )
    try:
        worker.wait_for_line(re.compile(rf"{re.escape(node)} ready"), timeout=60)
        check = load_module().check_worker
        assert check(node, timeout=5) is None
        # Another worker on the same broker does not answer for this one.
        missing = f"nobody-{secrets.token_hex(4)}@test"
        assert check(missing, timeout=1) == f"worker: {missing} did not answer a ping"
    finally:
        worker.stop()


def test_make_secrets_writes_each_secret_once_and_consistently(tmp_path):
    target = tmp_path / "secrets"
    first = subprocess.run(
        ["sh", "compose/make-secrets", str(target)], cwd=ROOT, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    files = {path.name: path.read_text().strip() for path in target.iterdir()}
    assert set(files) == {
        "secret_key",
        "postgres_password",
        "redis_password",
        "metrics_token",
        "database_url",
        "redis_url",
    }
    assert len(files["secret_key"]) >= 50 and len(files["postgres_password"]) >= 32
    assert files["database_url"] == (
        f"postgres://aiportal:{files['postgres_password']}@postgres:5432/aiportal"
    )
    assert files["redis_url"] == f"redis://:{files['redis_password']}@redis:6379/0"
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    # A second run keeps every value; a deleted secret is written anew, the others kept.
    (target / "metrics_token").unlink()
    second = subprocess.run(
        ["sh", "compose/make-secrets", str(target)], cwd=ROOT, capture_output=True, text=True
    )
    assert second.stdout.strip() == f"make-secrets: wrote {target}/metrics_token"
    again = {path.name: path.read_text().strip() for path in target.iterdir()}
    assert {k: v for k, v in again.items() if k != "metrics_token"} == {
        k: v for k, v in files.items() if k != "metrics_token"
    }
    assert again["metrics_token"] != files["metrics_token"]
