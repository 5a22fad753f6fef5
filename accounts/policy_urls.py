"""Included from aiportal/urls.py at ``accounts/``, before allauth's own pages."""

from django.urls import path

from accounts import policy_views

app_name = "accounts_policy"

urlpatterns = [
    path("invite/<str:token>/", policy_views.invite_accept, name="invite"),
    path("status/", policy_views.account_status, name="status"),
]
