from django.conf import settings


def site(request):
    """What every page may need to know about the deployment's policy."""
    return {"signup_open": settings.AIPORTAL_SIGNUP_OPEN}
