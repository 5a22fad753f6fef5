"""`manage.py ensure_admin` says which admin exists: a run without the admin variables must
name a real account (./dev up prints it), never one it guessed."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from accounts.services import user_create, user_ensure_admin

pytestmark = pytest.mark.django_db


def ensure_admin(monkeypatch, **env: str) -> str:
    for name in ("AIPORTAL_ADMIN_EMAIL", "AIPORTAL_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    return out.getvalue()


def test_a_second_run_without_the_variables_names_the_admin_made_by_the_first(monkeypatch):
    first = ensure_admin(
        monkeypatch,
        AIPORTAL_ADMIN_EMAIL="Boss@Example.com",
        AIPORTAL_ADMIN_PASSWORD="a-long-test-password-1",
    )
    assert first.startswith("Created admin Boss@Example.com")

    second = ensure_admin(monkeypatch)
    assert second.startswith("Existing admin boss@example.com; nothing changed.")
    assert "admin@localhost" not in second
    assert not User.objects.filter(email="admin@localhost").exists()


def test_an_email_without_a_password_is_not_claimed_to_be_the_admin(monkeypatch):
    user_ensure_admin(email="real@example.com", password="a-long-test-password-1")
    user_ensure_admin(email="second@example.com", password="a-long-test-password-1")
    user_create(email="someone@example.com", password="a-long-test-password-1")

    out = ensure_admin(monkeypatch, AIPORTAL_ADMIN_EMAIL="someone@example.com")
    lines = out.splitlines()
    assert "AIPORTAL_ADMIN_EMAIL is someone@example.com, but without" in lines[0]
    assert lines[1] == (
        "Existing admin real@example.com (other admins: second@example.com); nothing changed."
    )
    assert not User.objects.get(email="someone@example.com").is_superuser


def test_the_admin_asked_for_comes_first(monkeypatch):
    user_ensure_admin(email="real@example.com", password="a-long-test-password-1")
    user_ensure_admin(email="second@example.com", password="a-long-test-password-1")

    out = ensure_admin(monkeypatch, AIPORTAL_ADMIN_EMAIL="Second@example.com")
    assert out == (
        "Existing admin second@example.com (other admins: real@example.com); nothing changed.\n"
    )


def test_only_inactive_admins_are_reported_with_how_to_create_one(monkeypatch):
    admin, _ = user_ensure_admin(email="gone@example.com", password="a-long-test-password-1")
    User.objects.filter(pk=admin.pk).update(is_active=False)

    out = ensure_admin(monkeypatch)
    assert out.startswith("No active admin account: to create one, set AIPORTAL_ADMIN_EMAIL")
    assert "createsuperuser" in out
    assert "Existing admin" not in out


def test_with_migrate_it_migrates_then_makes_the_admin_in_one_run(monkeypatch):
    # ./dev up runs it so on every start (one Django start fewer). From an empty folder the
    # migrations it applies are tested by tests/test_dev_script.py's first run.
    for name in ("AIPORTAL_ADMIN_EMAIL", "AIPORTAL_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    out = StringIO()
    with CaptureQueriesContext(connection) as queries:
        call_command("ensure_admin", "--migrate", stdout=out)
    # It read the applied migrations (here there is nothing left to apply) before the admin.
    read = [n for n, q in enumerate(queries.captured_queries) if "django_migrations" in q["sql"]]
    made = [n for n, q in enumerate(queries.captured_queries) if "INSERT" in q["sql"]]
    assert read and made and read[0] < made[0]
    assert out.getvalue().startswith("Created admin admin@localhost with password ")
    assert User.objects.get(email="admin@localhost").is_superuser
