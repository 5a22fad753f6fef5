from accounts.signup.policy import signup_refusal


def site(request):
    """What every page may need to know about the deployment's policy."""
    return {"signup_open": signup_refusal(email=None, via="local") is None}
