"""Included from aiportal/urls.py at ``accounts/sessions/``, before allauth's own URLs."""

from django.urls import path

from accounts.views import sessions

urlpatterns = [
    path("<int:pk>/end", sessions.session_end, name="usersession_end"),
]
