"""Create the first admin from AIPORTAL_ADMIN_EMAIL / AIPORTAL_ADMIN_PASSWORD, or generate one.

Used by ``./dev up``. A generated password is printed once and never stored in clear.
"""

import os
import secrets

from django.core.management.base import BaseCommand

from accounts.models import User
from accounts.services import user_ensure_admin


class Command(BaseCommand):
    help = "Create the admin account from the environment, or a generated one, if none exists."

    def handle(self, *args, **options):
        email = os.environ.get("AIPORTAL_ADMIN_EMAIL", "").strip()
        password = os.environ.get("AIPORTAL_ADMIN_PASSWORD", "")
        if email and password:
            _, created = user_ensure_admin(email=email, password=password)
            verb = "Created" if created else "Updated"
            self.stdout.write(f"{verb} admin {email} (password from AIPORTAL_ADMIN_PASSWORD).")
            return
        if User.objects.filter(is_superuser=True).exists():
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
