"""Accounts' URL modules, each included from aiportal/urls.py: ``settings`` at
``settings/``, ``policy`` at ``accounts/``, ``sessions`` at ``accounts/sessions/``."""
