from django.apps import AppConfig, apps
from django.db.models.signals import post_save


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib.admin.models import LogEntry
        from django.contrib.auth import signals as auth_signals

        from accounts.audit import admin as audit_admin  # noqa: F401 -- registers its admin
        from accounts.audit import receivers as audit

        auth_signals.user_logged_in.connect(audit.on_user_logged_in, dispatch_uid="audit-in")
        auth_signals.user_logged_out.connect(audit.on_user_logged_out, dispatch_uid="audit-out")
        auth_signals.user_login_failed.connect(
            audit.on_user_login_failed, dispatch_uid="audit-failed"
        )
        # Password guessing (accounts/signin/guessing.py): every failed check counts, wherever it
        # was made; a completed sign-in clears its own (account, address) pair.
        from accounts.signin import guessing

        auth_signals.user_login_failed.connect(
            guessing.on_user_login_failed, dispatch_uid="guessing-failed"
        )
        auth_signals.user_logged_in.connect(guessing.on_user_logged_in, dispatch_uid="guessing-in")
        post_save.connect(audit.on_admin_log_entry_saved, sender=LogEntry, dispatch_uid="audit-adm")
        # MFA is optional (another part of the settings may leave allauth.mfa out).
        if apps.is_installed("allauth.mfa"):
            from allauth.mfa import signals as mfa_signals

            mfa_signals.authenticator_added.connect(audit.on_mfa_added, dispatch_uid="audit-mfa+")
            mfa_signals.authenticator_removed.connect(
                audit.on_mfa_removed, dispatch_uid="audit-mfa-"
            )
            mfa_signals.authenticator_reset.connect(audit.on_mfa_reset, dispatch_uid="audit-mfa0")

        from allauth.account.signals import user_signed_up

        from accounts.signup.policy import signup_complete

        # Every allauth sign-up (the local form, allauth's social logins) ends here; paths of
        # our own call signup_complete themselves.
        user_signed_up.connect(
            lambda sender, user, **kwargs: signup_complete(user),
            weak=False,
            dispatch_uid="accounts-signup-complete",
        )

        # Live revocation: open websockets follow changes to their user (accounts/access/live.py).
        from accounts.access.live import receivers_connect

        receivers_connect()

        # Registers the export tasks, which services queue by name (common/tasks.py).
        from accounts import tasks  # noqa: F401
