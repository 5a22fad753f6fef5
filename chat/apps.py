from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self) -> None:
        # The person's conversations in "export my data" and "delete my account".
        from accounts.privacy.hooks import privacy_hook_register
        from chat.privacy import ChatPrivacyHook

        privacy_hook_register(ChatPrivacyHook())
