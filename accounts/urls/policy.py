"""Included from aiportal/urls.py at ``accounts/``, before allauth's own pages."""

from django.urls import path

from accounts.views import policy

app_name = "accounts_policy"

urlpatterns = [
    path("invite/<str:token>/", policy.invite_accept, name="invite"),
    path("status/", policy.account_status, name="status"),
]
