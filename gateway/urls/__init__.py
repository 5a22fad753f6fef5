"""The gateway's URLs, each included from aiportal/urls.py: ``api`` at ``v1/`` (the
OpenAI-compatible API), ``keys`` at ``settings/keys/``."""
