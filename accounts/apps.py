from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from allauth.account.signals import user_signed_up

        from accounts.signup_policy import signup_complete

        # Every allauth sign-up (the local form, allauth's social logins) ends here; paths of
        # our own call signup_complete themselves.
        user_signed_up.connect(
            lambda sender, user, **kwargs: signup_complete(user),
            weak=False,
            dispatch_uid="accounts-signup-complete",
        )
