"""System checks of the datasets' retrieval, run with the database's checks (``migrate``,
``manage.py check --database default``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.db import DatabaseError, connection


@register(Tags.database)
def vector_search_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """An embedding model is set but this database cannot rank by vector: say so, since
    search then quietly uses full-text alone."""
    if not settings.AIPORTAL_EMBEDDING_MODEL or "default" not in (kwargs.get("databases") or []):
        return []
    from datasets.selectors.vectors import vector_search_available

    try:
        available = vector_search_available()
    except DatabaseError:  # not migrated yet: migrate itself runs the checks first
        return []
    if available:
        return []
    hint = (
        "Use a PostgreSQL server with the pgvector extension (the pgvector/pgvector:pg16 "
        "image), then migrate a fresh database; docs/datasets.md, 'How retrieval works'."
        if connection.vendor == "postgresql"
        else "Install sqlite-vec (pip install sqlite-vec) for this platform."
    )
    return [
        Warning(
            "AIPORTAL_EMBEDDING_MODEL is set but this database has no vector search: "
            "refills store vectors, searches use full-text only.",
            hint=hint,
            id="datasets.W001",
        )
    ]
