"""Create the first admin from AIPORTAL_ADMIN_EMAIL / AIPORTAL_ADMIN_PASSWORD, or generate one.

Used by ``./dev up`` (with ``--migrate``) and compose's one-shot ``migrate``. A generated
password is printed once and never stored in clear. Every run says which admin there is, on
a line that starts with "Created admin EMAIL", "Updated admin EMAIL" or "Existing admin
EMAIL" (``./dev up`` names the account from it), or says that none is active and how to make
one.
"""

import os
import secrets

from django.core.management import call_command
from django.core.management.base import BaseCommand

from accounts.models import User
from accounts.services import user_ensure_admin

HOW_TO_CREATE = (
    "set AIPORTAL_ADMIN_EMAIL and AIPORTAL_ADMIN_PASSWORD and run this again "
    "(./dev up does), or run manage.py createsuperuser"
)


class Command(BaseCommand):
    help = "Create the admin account from the environment, or a generated one, if none exists."

    def add_arguments(self, parser):
        parser.add_argument(
            "--migrate",
            action="store_true",
            help="Apply the migrations first, in this process: one Django start instead of two "
            "(./dev up, on every start).",
        )

    def handle(self, *args, **options):
        if options["migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        email = os.environ.get("AIPORTAL_ADMIN_EMAIL", "").strip()
        password = os.environ.get("AIPORTAL_ADMIN_PASSWORD", "")
        if email and password:
            _, created = user_ensure_admin(email=email, password=password)
            verb = "Created" if created else "Updated"
            self.stdout.write(f"{verb} admin {email} (password from AIPORTAL_ADMIN_PASSWORD).")
            return
        admins = User.objects.filter(is_superuser=True)
        if admins.exists():
            self._describe(admins, asked=email)
            return
        email = email or "admin@localhost"
        password = secrets.token_urlsafe(12)
        user_ensure_admin(email=email, password=password)
        self.stdout.write(
            self.style.WARNING(
                f"Created admin {email} with password {password}  "
                "(shown once: write it down, or set AIPORTAL_ADMIN_PASSWORD)."
            )
        )

    def _describe(self, admins, *, asked: str) -> None:
        """Name the admins that exist: a second run must not name one that doesn't."""
        active = [user.email for user in admins.filter(is_active=True).order_by("pk")]
        if asked and asked.lower() not in [address.lower() for address in active]:
            self.stdout.write(
                self.style.WARNING(
                    f"AIPORTAL_ADMIN_EMAIL is {asked}, but without AIPORTAL_ADMIN_PASSWORD "
                    "no admin is created or changed while another exists."
                )
            )
        if not active:
            self.stdout.write(
                self.style.WARNING(f"No active admin account: to create one, {HOW_TO_CREATE}.")
            )
            return
        # The one asked for first, if it is an admin; each under the address stored.
        active.sort(key=lambda address: address.lower() != asked.lower())
        others = f" (other admins: {', '.join(active[1:])})" if len(active) > 1 else ""
        self.stdout.write(f"Existing admin {active[0]}{others}; nothing changed.")
