"""The gateway's Django admin: the worker pool with its live page and the model access rules
(``workers``), admission policies (``policies``), API keys (``keys``), model prices
(``prices``), usage records and the usage page (``usage``).
Importing this package registers them all."""

from gateway.admin import keys, policies, prices, usage, workers  # noqa: F401
