"""The gateway's Django admin: the worker pool with its live page and the model access rules
(``workers``), admission policies (``policies``), API keys and usage records (``keys``).
Importing this package registers them all."""

from gateway.admin import keys, policies, workers  # noqa: F401
