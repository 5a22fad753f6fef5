"""Full-text search columns, which differ by database (datasets/selectors/search.py reads
them). They are not model fields: Django has no field that is a tsvector on one database and
an FTS5 table on the other, and the ORM never writes them."""

from django.db import migrations

POSTGRESQL = [
    (
        "ALTER TABLE datasets_chunk ADD COLUMN search tsvector"
        " GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
        "ALTER TABLE datasets_chunk DROP COLUMN search",
    ),
    (
        "CREATE INDEX datasets_chunk_search ON datasets_chunk USING gin (search)",
        "DROP INDEX datasets_chunk_search",
    ),
]

# An external-content FTS5 table: the text is stored once (in datasets_chunk), the triggers
# keep the index in step with every insert, update and delete, the ORM's included.
SQLITE = [
    (
        "CREATE VIRTUAL TABLE datasets_chunk_fts USING fts5("
        "text, content='datasets_chunk', content_rowid='id', tokenize='porter unicode61')",
        "DROP TABLE datasets_chunk_fts",
    ),
    (
        "CREATE TRIGGER datasets_chunk_fts_insert AFTER INSERT ON datasets_chunk BEGIN"
        " INSERT INTO datasets_chunk_fts(rowid, text) VALUES (new.id, new.text); END",
        "DROP TRIGGER datasets_chunk_fts_insert",
    ),
    (
        "CREATE TRIGGER datasets_chunk_fts_delete AFTER DELETE ON datasets_chunk BEGIN"
        " INSERT INTO datasets_chunk_fts(datasets_chunk_fts, rowid, text)"
        " VALUES ('delete', old.id, old.text); END",
        "DROP TRIGGER datasets_chunk_fts_delete",
    ),
    (
        "CREATE TRIGGER datasets_chunk_fts_update AFTER UPDATE ON datasets_chunk BEGIN"
        " INSERT INTO datasets_chunk_fts(datasets_chunk_fts, rowid, text)"
        " VALUES ('delete', old.id, old.text);"
        " INSERT INTO datasets_chunk_fts(rowid, text) VALUES (new.id, new.text); END",
        "DROP TRIGGER datasets_chunk_fts_update",
    ),
]


def _statements(vendor):
    return {"postgresql": POSTGRESQL, "sqlite": SQLITE}.get(vendor, [])


def forwards(apps, schema_editor):
    for sql, _ in _statements(schema_editor.connection.vendor):
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    for _, sql in reversed(_statements(schema_editor.connection.vendor)):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("datasets", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
