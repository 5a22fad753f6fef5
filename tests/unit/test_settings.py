"""Settings are read at import, so each case runs in a fresh interpreter with its own env."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 20 + "-test-secret-key-of-sufficient-length-0123456789"

PRINT_SETTINGS = """
# Reading a setting imports aiportal.settings, where every check runs; django.setup() would
# load every app as well (about 2.5 s more a case) and check nothing more about them.
import json
from django.conf import settings
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "db_name": str(settings.DATABASES["default"]["NAME"]),
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "broker": settings.CELERY_BROKER_URL,
    "debug": settings.DEBUG,
    "hosts": settings.ALLOWED_HOSTS,
    "pool": settings.DATABASES["default"].get("OPTIONS", {}).get("pool"),
}))
"""


def run_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIPORTAL_", "DEBUG"))}
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SECRET_KEY_FILE", "ALLOWED_HOSTS"):
        base.pop(name, None)
    base["DJANGO_SETTINGS_MODULE"] = "aiportal.settings"
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_unset_means_the_embedded_default(tmp_path):
    result = run_settings({"SECRET_KEY": GOOD_KEY, "AIPORTAL_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["engine"] == "common.sqlite"  # Django's, on a SQLite that loads sqlite-vec
    assert seen["db_name"] == str(tmp_path / "aiportal.sqlite3")
    assert seen["layer"] == "channels.layers.InMemoryChannelLayer"
    assert seen["eager"] is True
    assert seen["debug"] is False
    assert seen["pool"] is None  # SQLite has no pool


def test_database_and_redis_urls_switch_to_production_parts():
    result = run_settings(
        {
            "SECRET_KEY": GOOD_KEY,
            "DATABASE_URL": "postgres://app:pw@db.internal:5432/aiportal",
            "REDIS_URL": "redis://redis.internal:6379/0",
            "ALLOWED_HOSTS": "chat.example.org, internal",
        }
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["engine"] == "django.db.backends.postgresql"
    assert seen["db_name"] == "aiportal"
    assert seen["layer"] == "channels_redis.core.RedisChannelLayer"
    assert seen["eager"] is False
    assert seen["broker"] == "redis://redis.internal:6379/0"
    assert seen["hosts"] == ["chat.example.org", "internal"]
    # Each web process keeps a pool of PostgreSQL connections instead of one per thread.
    assert seen["pool"] == {"min_size": 2, "max_size": 20, "timeout": 5}


def test_the_connection_pool_is_sized_or_turned_off_from_the_environment():
    url = {"SECRET_KEY": GOOD_KEY, "DATABASE_URL": "postgres://app:pw@db:5432/aiportal"}
    sized = run_settings({**url, "AIPORTAL_DB_POOL_MAX": "1"})
    assert sized.returncode == 0, sized.stderr
    # The minimum never exceeds the maximum, which psycopg_pool would refuse.
    assert json.loads(sized.stdout)["pool"] == {"min_size": 1, "max_size": 1, "timeout": 5}
    off = run_settings({**url, "AIPORTAL_DB_POOL": "false"})
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout)["pool"] is None


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off():
    result = run_settings({})
    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off" in result.stderr


def test_it_refuses_a_short_secret_key():
    result = run_settings({"SECRET_KEY": "too-short"})
    assert result.returncode != 0
    assert "use at least 50 random characters" in result.stderr


def test_debug_runs_without_a_secret_key(tmp_path):
    result = run_settings({"DEBUG": "true", "AIPORTAL_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["debug"] is True


def test_the_secret_key_can_come_from_a_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(GOOD_KEY + "\n")
    result = run_settings({"SECRET_KEY_FILE": str(key_file), "AIPORTAL_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr


def test_a_mistyped_boolean_stops_start_up_with_its_name():
    result = run_settings({"SECRET_KEY": GOOD_KEY, "DEBUG": "ture"})
    assert result.returncode != 0
    assert "DEBUG must be true or false, not 'ture'" in result.stderr
