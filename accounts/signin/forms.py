"""allauth's sign-in form, worded like the rest of the product ("Remember Me:" in title case
with a colon reads like no other page here)."""

from __future__ import annotations

from allauth.account.forms import LoginForm as AllauthLoginForm
from django.utils.translation import gettext as _


class LoginForm(AllauthLoginForm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "remember" in self.fields:
            self.fields["remember"].label = _("Keep me signed in on this browser")
            self.fields["remember"].label_suffix = ""  # a box before its words, no colon
