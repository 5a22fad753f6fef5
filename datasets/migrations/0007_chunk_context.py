"""A chunk's context (its document's title and heading path), searched with its text.

The column is added by hand rather than by ``AddField``: on SQLite Django would rebuild
``datasets_chunk`` to add a NOT NULL column, dropping the triggers that keep the FTS5 index
in step. The full-text columns of migration 0002 are then rebuilt over context and text:
PostgreSQL's generated ``tsvector`` (with its GIN index and migration 0004's inline storage),
SQLite's external-content FTS5 table with a second column (and its triggers), refilled from
the chunks already stored (whose context stays empty: refills reuse them by checksum).
"""

from django.db import migrations, models

POSTGRESQL = [
    "ALTER TABLE datasets_chunk ADD COLUMN context text NOT NULL DEFAULT ''",
    "DROP INDEX datasets_chunk_search",
    "ALTER TABLE datasets_chunk DROP COLUMN search",
    "ALTER TABLE datasets_chunk ADD COLUMN search tsvector GENERATED ALWAYS AS"
    " (to_tsvector('english', context || E'\\n\\n' || text)) STORED",
    "ALTER TABLE datasets_chunk ALTER COLUMN search SET STORAGE MAIN",
    "CREATE INDEX datasets_chunk_search ON datasets_chunk USING gin (search)",
]
# Going back: the search column of 0002/0004 over the text alone.
POSTGRESQL_BACK = [
    "DROP INDEX datasets_chunk_search",
    "ALTER TABLE datasets_chunk DROP COLUMN search",
    "ALTER TABLE datasets_chunk DROP COLUMN context",
    "ALTER TABLE datasets_chunk ADD COLUMN search tsvector"
    " GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "ALTER TABLE datasets_chunk ALTER COLUMN search SET STORAGE MAIN",
    "CREATE INDEX datasets_chunk_search ON datasets_chunk USING gin (search)",
]


def _sqlite(columns: str, old: str, new: str) -> list[str]:
    return [
        "DROP TRIGGER IF EXISTS datasets_chunk_fts_insert",
        "DROP TRIGGER IF EXISTS datasets_chunk_fts_delete",
        "DROP TRIGGER IF EXISTS datasets_chunk_fts_update",
        "DROP TABLE IF EXISTS datasets_chunk_fts",
        f"CREATE VIRTUAL TABLE datasets_chunk_fts USING fts5({columns},"
        " content='datasets_chunk', content_rowid='id', tokenize='porter unicode61')",
        "CREATE TRIGGER datasets_chunk_fts_insert AFTER INSERT ON datasets_chunk BEGIN"
        f" INSERT INTO datasets_chunk_fts(rowid, {columns}) VALUES (new.id, {new}); END",
        "CREATE TRIGGER datasets_chunk_fts_delete AFTER DELETE ON datasets_chunk BEGIN"
        f" INSERT INTO datasets_chunk_fts(datasets_chunk_fts, rowid, {columns})"
        f" VALUES ('delete', old.id, {old}); END",
        "CREATE TRIGGER datasets_chunk_fts_update AFTER UPDATE ON datasets_chunk BEGIN"
        f" INSERT INTO datasets_chunk_fts(datasets_chunk_fts, rowid, {columns})"
        f" VALUES ('delete', old.id, {old});"
        f" INSERT INTO datasets_chunk_fts(rowid, {columns}) VALUES (new.id, {new}); END",
        "INSERT INTO datasets_chunk_fts(datasets_chunk_fts) VALUES ('rebuild')",
    ]


SQLITE = [
    "ALTER TABLE datasets_chunk ADD COLUMN context text NOT NULL DEFAULT ''",
    *_sqlite("context, text", "old.context, old.text", "new.context, new.text"),
]
SQLITE_BACK = [
    *_sqlite("text", "old.text", "new.text"),
    "ALTER TABLE datasets_chunk DROP COLUMN context",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in {"postgresql": POSTGRESQL, "sqlite": SQLITE}.get(vendor, []):
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in {"postgresql": POSTGRESQL_BACK, "sqlite": SQLITE_BACK}.get(vendor, []):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("datasets", "0006_grant_pending")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="chunk",
                    name="context",
                    field=models.TextField(blank=True, default=""),
                )
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        )
    ]
