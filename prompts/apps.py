from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PromptsConfig(AppConfig):
    name = "prompts"
    verbose_name = _("Prompt library")

    def ready(self) -> None:
        # The person's prompts in "export my data" and "delete my account".
        from accounts.privacy.hooks import privacy_hook_register
        from prompts.privacy import PromptsPrivacyHook

        privacy_hook_register(PromptsPrivacyHook())
