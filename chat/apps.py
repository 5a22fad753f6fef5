from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self) -> None:
        # The person's conversations in "export my data" and "delete my account".
        from accounts.privacy.hooks import privacy_hook_register
        from chat.privacy import ChatPrivacyHook

        privacy_hook_register(ChatPrivacyHook())

        # An attachment's files go with its row, however the row goes (a cascade too).
        from django.db.models.signals import post_delete

        from chat.models import Attachment
        from chat.services.attachments import attachment_files_unlink

        post_delete.connect(
            attachment_files_unlink, sender=Attachment, dispatch_uid="chat_attachment_files"
        )
