from accounts.preferences import preferences_get
from accounts.signup.policy import signup_refusal


def site(request):
    """What every page may need to know about the deployment's policy."""
    return {"signup_open": signup_refusal(email=None, via="local") is None}


def theme(request):
    """The theme the signed-in person saved (Settings → Preferences), for base.html: with
    when they saved it, so static/chat/theme.js adopts a new choice on every device once."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Read once per request by accounts.preferences.middleware (None: never saved).
    if hasattr(request, "preferences"):
        preferences = request.preferences
    else:
        preferences = preferences_get(user=user)
    if (
        preferences is None or preferences.updated_at is None
    ):  # never saved: the browser's own choice stands
        return {}
    return {
        "theme_choice": preferences.theme,
        "theme_saved": int(preferences.updated_at.timestamp()),
    }
