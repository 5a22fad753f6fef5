"""The gateway's Django admin: the worker pool with its live page and the model access rules
(``workers``), admission policies (``policies``), API keys (``keys``), usage records and
the usage page (``usage``).
Importing this package registers them all."""

from gateway.admin import keys, policies, usage, workers  # noqa: F401
