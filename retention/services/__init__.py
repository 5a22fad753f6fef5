"""Writes of the retention app: the purge (``purge.py``)."""

from retention.services.purge import RUN_TIME_LIMIT_S, retention_purge

__all__ = ["RUN_TIME_LIMIT_S", "retention_purge"]
