"""A password hasher for the test process only."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class OneRoundPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Django's PBKDF2 with one round instead of a million: the people fixtures create three
    users per test, and hashing their passwords was most of many tests' time. The hash keeps
    the production format (``pbkdf2_sha256$1$…``, the round count inside it), so a Daphne the
    tests start, with Django's own hashers, still verifies these passwords at sign-in."""

    iterations = 1
