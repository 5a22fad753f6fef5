from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """aiportal's own user model from the first migration, so roles and SSO fields can be added
    later without the painful swap of Django's default user."""

    email = models.EmailField("email address", unique=True)

    def __str__(self) -> str:
        return self.email or self.username
