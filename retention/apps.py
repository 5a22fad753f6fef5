from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "retention"
    verbose_name = "Retention"

    def ready(self) -> None:
        # "Your data" says how long the person's conversations are kept.
        from accounts.privacy.notices import kept_notice_register
        from retention.notices import conversations_kept_notice

        kept_notice_register("retention.conversations", conversations_kept_notice)
