"""allauth's ``account`` app under a name of its own in the admin.

allauth calls it "Accounts", as we call ours: the admin home showed two sections both
titled ACCOUNTS. Django's way to rename a third-party app is a subclass of its config, named
in INSTALLED_APPS instead of the app."""

from allauth.account.apps import AccountConfig


class SignInAddressesConfig(AccountConfig):
    verbose_name = "Sign-in addresses"
