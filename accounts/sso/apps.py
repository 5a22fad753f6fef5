from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "accounts.sso"
    label = "accounts_sso"
    verbose_name = "Single sign-on"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.sso import signals  # noqa: F401  (connects the sign-in receiver)
