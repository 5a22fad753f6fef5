"""``manage.py apikey create|revoke|list``: personal API keys from the command line.

``create`` prints the key as the last line of stdout (and nothing after it), so scripts can
take it with ``| tail -n 1``. It is shown once: only a keyed digest is stored.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from gateway import keys
from gateway.models import ApiKey


def _user(email: str):
    try:
        return get_user_model().objects.get(email__iexact=email.strip())
    except get_user_model().DoesNotExist:
        raise CommandError(f"No user with the email {email!r}.") from None


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


class Command(BaseCommand):
    help = "Create, revoke or list personal API keys for the /v1 API."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a key; prints it as the last line")
        create.add_argument("--user", required=True, metavar="EMAIL")
        create.add_argument("--name", required=True)
        create.add_argument("--expires-days", type=int, metavar="N")
        revoke = sub.add_parser("revoke", help="revoke a key by its prefix")
        revoke.add_argument("--prefix", required=True, metavar="P")
        listing = sub.add_parser("list", help="list a user's keys (never the keys themselves)")
        listing.add_argument("--user", required=True, metavar="EMAIL")

    def handle(self, *args, action: str, **options) -> None:
        getattr(self, f"_{action}")(**options)

    def _create(self, *, user: str, name: str, expires_days: int | None, **_) -> None:
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be at least 1.")
        owner = _user(user)
        if not owner.is_active:
            raise CommandError(f"{owner.email} is inactive: a key for them would not work.")
        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
        try:
            key, plaintext = keys.apikey_create(
                user=owner, name=name, expires_at=expires_at, by_operator=True
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        expiry = f", expires {_when(key.expires_at)} UTC" if key.expires_at else ""
        self.stdout.write(
            f"Created API key {key.display} “{key.name}” for {owner.email}{expiry}. "
            "It is shown once, on the next line:"
        )
        self.stdout.write(plaintext)

    def _revoke(self, *, prefix: str, **_) -> None:
        prefix = prefix.removeprefix(keys.KEY_PREFIX).split("_", 1)[0]
        key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
        if key is None:
            raise CommandError(f"No API key with the prefix {prefix!r}.")
        keys.apikey_revoke(key=key, by=None)
        self.stdout.write(f"Revoked {key.display} “{key.name}” of {key.user.email}.")

    def _list(self, *, user: str, **_) -> None:
        owner = _user(user)
        rows = keys.apikey_list(user=owner)
        if not rows:
            self.stdout.write(f"{owner.email} has no API keys.")
            return
        for key in rows:
            status = "revoked" if key.revoked_at else ("active" if key.is_usable() else "expired")
            self.stdout.write(
                f"{key.prefix}  {status:8}  created {_when(key.created_at)}  "
                f"last used {_when(key.last_used_at)}  expires {_when(key.expires_at)}  "
                f"{key.name}"
            )
