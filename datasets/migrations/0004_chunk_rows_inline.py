"""Keep a chunk's tsvector in its heap row (PostgreSQL only).

A chunk of ~800 characters has a tsvector of ~1.2 KB; with its text the row passes
PostgreSQL's default 2 KB TOAST threshold, and the tsvector (the largest column) was moved to
the TOAST table. Ranking then read every candidate's tsvector out of line: about three more
buffer reads per candidate, half of a search's time at a million chunks (docs/datasets.md,
"Benchmark"). With a 4 KB target and MAIN storage the tsvector stays inline, so the page the
bitmap scan already read is all ranking needs. Rows written before this migration keep their
layout until rewritten (a refill, or ``VACUUM FULL datasets_chunk``).
"""

from django.db import migrations

FORWARDS = [
    "ALTER TABLE datasets_chunk SET (toast_tuple_target = 4080)",
    "ALTER TABLE datasets_chunk ALTER COLUMN search SET STORAGE MAIN",
]
BACKWARDS = [
    "ALTER TABLE datasets_chunk ALTER COLUMN search SET STORAGE EXTENDED",
    "ALTER TABLE datasets_chunk RESET (toast_tuple_target)",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in FORWARDS:
            schema_editor.execute(sql)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in BACKWARDS:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("datasets", "0003_document_chunk_count")]

    operations = [migrations.RunPython(forwards, backwards)]
