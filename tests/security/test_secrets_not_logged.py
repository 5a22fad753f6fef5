"""Secrets are not logged or stored: an API key (valid or not) and a password (on a failed
sign-in) leave no copy in any log line, database row or Redis value.

A Daphne runs with LOG_LEVEL=DEBUG (every logger that settings.LOGGING does not pin higher
at its most talkative), its whole output written to a log file. The test sends
sentinel secrets through /v1 (every endpoint, streaming and not) and through the sign-in
form, then searches that log file, every other log file under the working directories, every
row of every table (each row cast to text, so every text and JSON column is covered, present
and future) and every Redis string. Only the key's keyed digest may be stored.

Keys sent in a URL (``?api_key=``) are refused, but the access log of any web server writes
the URL, so that case is left out here: SECURITY.md tells integrators to send the header.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from django.conf import settings
from django.db import connection

from accounts.models import User
from gateway.keys import apikey_create
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chatty_daphne(guarded_daphne, tmp_path):
    """The suite's Daphne logging at DEBUG; its output goes to a log file when read."""
    url, process = guarded_daphne
    return url, process, tmp_path / "daphne.log"


def _log_text(process, log_file: Path) -> str:
    log_file.write_text("".join(process.output))
    return log_file.read_text()


def _other_log_files() -> Iterator[Path]:
    for base in (ROOT / "var", Path(os.environ.get("AIPORTAL_DATA_DIR", ROOT / "var"))):
        if base.is_dir():
            yield from (p for p in base.rglob("*.log") if p.is_file())


def _rows_holding(secret: str) -> list[str]:
    """Tables with a row whose text form holds ``secret`` (every column, JSON included)."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            quoted = connection.ops.quote_name(table)
            # The table names come from introspection, the secret is a parameter.
            query = f"SELECT 1 FROM {quoted} t WHERE t::text LIKE %s LIMIT 1"  # noqa: S608
            cursor.execute(query, [f"%{secret}%"])
            if cursor.fetchone():
                found.append(table)
    return found


def _redis_holding(secret: str) -> list[str]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    found = []
    for name in client.scan_iter(count=1000):
        value = client.get(name) if client.type(name) == b"string" else b""
        if secret.encode() in name or secret.encode() in (value or b""):
            found.append(name.decode(errors="replace"))
    return found


def _nowhere(secret: str, process, log_file: Path) -> None:
    assert secret not in _log_text(process, log_file)
    for path in _other_log_files():
        assert secret not in path.read_text(errors="replace"), path
    assert _rows_holding(secret) == []
    assert _redis_holding(secret) == []


def test_api_keys_valid_or_not_leave_no_copy_anywhere(chatty_daphne, owner):
    url, process, log_file = chatty_daphne
    key, token = apikey_create(user=owner, name="sentinel")
    invalid = "aip_" + secrets.token_urlsafe(32)
    odd = "not-an-aip-key-" + secrets.token_hex(16)
    with httpx.Client(base_url=f"{url}/v1", timeout=60) as client:
        for secret, expected in ((token, 200), (invalid, 401), (odd, 401)):
            headers = {"Authorization": f"Bearer {secret}"}
            assert client.get("/models", headers=headers).status_code == expected
            chat = {"model": "aiportal-emulator", "messages": [{"role": "user", "content": "hi"}]}
            assert client.post("/chat/completions", json=chat, headers=headers).status_code in {
                expected,
                404,  # a model this server's worker does not serve: still authenticated
            }
            with client.stream(
                "POST", "/chat/completions", json={**chat, "stream": True}, headers=headers
            ) as stream:
                stream.read()
            client.post("/embeddings", json={"model": "x", "input": "hi"}, headers=headers)
            client.post("/chat/completions", content=b"{broken", headers=headers)
    # The log does show the requests (the test would mean nothing if nothing were logged).
    log = _log_text(process, log_file)
    assert "/v1/models" in log, log[-2000:]
    for secret in (token, invalid, odd):
        _nowhere(secret, process, log_file)
    # What is stored is the digest, and the short prefix a person sees in the key list.
    key.refresh_from_db()
    assert token not in str(vars(key))


def test_a_password_on_a_failed_sign_in_leaves_no_copy_anywhere(chatty_daphne, owner):
    url, process, log_file = chatty_daphne
    sentinel = "pw-sentinel-" + secrets.token_hex(12)
    with httpx.Client(base_url=url, timeout=60) as client:
        page = client.get("/accounts/login/")
        csrf = client.cookies["csrftoken"]
        for login in (owner.email, "nobody@example.com"):
            answer = client.post(
                "/accounts/login/",
                data={"login": login, "password": sentinel, "csrfmiddlewaretoken": csrf},
                headers={"Referer": f"{url}/accounts/login/"},
            )
            assert answer.status_code == 200  # the form again, with its error
            assert sentinel not in answer.text
        assert page.status_code == 200
    assert not User.objects.filter(email=sentinel).exists()
    _nowhere(sentinel, process, log_file)
