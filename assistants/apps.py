from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssistantsConfig(AppConfig):
    name = "assistants"
    verbose_name = _("Assistants")

    def ready(self) -> None:
        # The person's own assistants in "export my data" and "delete my account".
        # And the receivers that tell open chat pages when their assistants change.
        from accounts.privacy.hooks import privacy_hook_register
        from assistants import events  # noqa: F401
        from assistants.privacy import AssistantsPrivacyHook

        privacy_hook_register(AssistantsPrivacyHook())
