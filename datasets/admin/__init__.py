"""The Django admin for datasets, one module per model: ``datasets`` (datasets, inline
grants and sources, refill now, search as a user), ``jobs`` (refill history, live progress,
cancel), ``versions`` (rollback, the document browser). docs/datasets.md, "Administration"."""

from datasets.admin import datasets, jobs, versions

__all__ = ["datasets", "jobs", "versions"]
