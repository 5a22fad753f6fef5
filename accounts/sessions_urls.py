"""Included from aiportal/urls.py at ``accounts/sessions/``, before allauth's own URLs."""

from django.urls import path

from accounts import sessions_views

urlpatterns = [
    path("<int:pk>/end", sessions_views.session_end, name="usersession_end"),
]
