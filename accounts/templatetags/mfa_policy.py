"""``{% mfa_required_for user as required %}``: whether the deployment's policy requires this
person to have a second factor (the MFA pages say so, and refuse to remove the last one)."""

from django import template

from accounts.signin.mfa import mfa_required

register = template.Library()


@register.simple_tag
def mfa_required_for(user) -> bool:
    return bool(user and user.is_authenticated and mfa_required(user))
