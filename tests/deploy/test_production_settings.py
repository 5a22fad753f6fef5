"""Production settings: what compose runs passes `check --deploy`, start-up refuses keys
anyone knows, one variable gives the host names and trusted origins, and behind the edge the
cookies are secure, plain HTTP is redirected and HSTS is sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from aiportal.settings import _DEBUG_SECRET_KEY, _secret_key_problem
from tests.conftest import ROOT
from tests.deploy.compose_support import compose_load, env_file_read, service_environment

PRINT_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({name: getattr(settings, name, None) for name in [
    "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
    "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_PROXY_SSL_HEADER",
]}))
"""


def random_key() -> str:
    return subprocess.run(
        [sys.executable, "-c", "import secrets; print(secrets.token_urlsafe(50))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter (settings are read at import) with only ``env`` configured."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIPORTAL_", "DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"))
        and k not in {"ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS"}
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "aiportal.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def settings_with(env: dict[str, str]) -> dict:
    result = run(["-c", PRINT_SETTINGS], {"SECRET_KEY": random_key(), **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def production_environment(tmp_path) -> dict[str, str]:
    """What a web container of compose/compose.yaml gets: compose/.env.example, then the
    service's own environment, its /run/secrets files written by compose/make-secrets."""
    secrets_dir = tmp_path / "secrets"
    subprocess.run(["sh", "compose/make-secrets", str(secrets_dir)], cwd=ROOT, check=True)
    env = env_file_read()
    for name, value in service_environment(compose_load()["services"]["web"]).items():
        env[name] = value.replace("/run/secrets/", f"{secrets_dir}/")
    env["AIPORTAL_DATA_DIR"] = str(tmp_path / "data")
    return env


def test_the_compose_environment_passes_check_deploy(tmp_path):
    env = production_environment(tmp_path)
    assert env["SECRET_KEY_FILE"].startswith(str(tmp_path))
    result = run(["manage.py", "check", "--deploy", "--fail-level", "DEBUG"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (2 silenced)." in result.stdout


def test_check_deploy_notices_a_deployment_without_https(tmp_path):
    env = {**production_environment(tmp_path), "AIPORTAL_HTTPS": "false"}
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr, check


@pytest.mark.parametrize(
    "key",
    [
        "changeme",
        "changeme" * 7,
        "CHANGE_ME-" + "q8Vd2LxN0rTzK5mWb7YhJc3pFs9GaE1uRo4iXkQ6nHlMvBtZyD",
        "django-insecure-" + "x3@k#n!p0^z&m(8)q*w+e-r=t_y7u6i5o4a3s2d1f0g9h8j7",
        _DEBUG_SECRET_KEY,
        "replace-me-with-at-least-50-random-characters-of-your-own-0123",
        "your-secret-key-goes-here-this-is-an-example-key-of-sixty-chars",
        "a" * 64,
    ],
)
def test_well_known_and_placeholder_keys_are_refused(key):
    assert _secret_key_problem(key) is not None


def test_a_random_key_is_accepted():
    assert _secret_key_problem(random_key()) is None


def test_start_up_stops_on_a_well_known_key_and_says_how_to_make_one():
    result = run(["-c", "import django; django.setup()"], {"SECRET_KEY": "django-insecure-" * 4})
    assert result.returncode != 0
    assert "SECRET_KEY is a well-known or placeholder value, not a random one." in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr


def test_hosts_and_trusted_origins_follow_from_the_domain_behind_https():
    seen = settings_with(
        {
            "AIPORTAL_DOMAIN": "chat.example.org, ai.example.org",
            "AIPORTAL_HTTPS": "true",
            "AIPORTAL_BEHIND_PROXY": "true",
        }
    )
    assert seen["ALLOWED_HOSTS"] == ["chat.example.org", "ai.example.org"]
    assert seen["CSRF_TRUSTED_ORIGINS"] == ["https://chat.example.org", "https://ai.example.org"]
    assert seen["SESSION_COOKIE_SECURE"] is True and seen["CSRF_COOKIE_SECURE"] is True
    assert seen["SECURE_SSL_REDIRECT"] is True
    assert seen["SECURE_HSTS_SECONDS"] == 31_536_000
    assert seen["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert seen["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_allowed_hosts_still_wins_and_plain_http_stays_plain():
    seen = settings_with(
        {"AIPORTAL_DOMAIN": "chat.example.org", "ALLOWED_HOSTS": "chat.example.org,web"}
    )
    assert seen["ALLOWED_HOSTS"] == ["chat.example.org", "web"]
    assert seen["CSRF_TRUSTED_ORIGINS"] == ["http://chat.example.org"]
    assert seen["SESSION_COOKIE_SECURE"] is False and seen["SECURE_HSTS_SECONDS"] == 0
    assert seen["SECURE_PROXY_SSL_HEADER"] is None


def test_a_url_in_the_domain_variable_is_refused():
    result = run(
        ["-c", "import django; django.setup()"],
        {"SECRET_KEY": random_key(), "AIPORTAL_DOMAIN": "https://chat.example.org"},
    )
    assert result.returncode != 0
    assert "AIPORTAL_DOMAIN takes host names such as chat.example.org" in result.stderr


@pytest.fixture
def behind_the_edge(settings):
    settings.ALLOWED_HOSTS = ["chat.example.org"]
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def test_behind_the_edge_https_pages_get_hsts_and_secure_cookies(behind_the_edge, client, db):
    response = client.get(
        "/accounts/login/", headers={"Host": "chat.example.org", "X-Forwarded-Proto": "https"}
    )
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert response.cookies["csrftoken"]["secure"] is True


def test_behind_the_edge_plain_http_is_redirected_except_health(behind_the_edge, client, db):
    response = client.get("/accounts/login/", headers={"Host": "chat.example.org"})
    assert response.status_code == 301
    assert response.headers["Location"] == "https://chat.example.org/accounts/login/"
    # The container's health check comes over plain HTTP from inside and is answered.
    assert client.get("/healthz", headers={"Host": "chat.example.org"}).status_code == 200
