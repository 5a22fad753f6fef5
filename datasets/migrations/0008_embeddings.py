"""Vectors of chunks (one per chunk and embedding model), the model a version was embedded
with, and a refill's "embedded n of m".

On PostgreSQL, the pgvector extension is created when the server has it
(``pg_available_extensions``) and the vector column becomes an untyped ``vector``: the
dimension depends on the model, so the HNSW indexes are partial expression indexes, one per
(model, dimension), made when that pair is first stored (datasets/services/vectors.py). A
server without pgvector keeps the portable float32 bytes column: refills still store
vectors, search there is full-text only, and the system check datasets.W001 says so.
"""

import django.db.models.deletion
from django.db import migrations, models, transaction


def _pgvector(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        if cursor.fetchone() is None:
            return
        try:
            # A savepoint: a role that may not create extensions must not fail the migration.
            with transaction.atomic(using=connection.alias):
                cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except Exception:
            return
        # The table is new and empty: nothing to convert.
        cursor.execute(
            "ALTER TABLE datasets_chunkembedding ALTER COLUMN vector TYPE vector USING NULL"
        )


def _pgvector_back(apps, schema_editor):
    # The table goes with the migration; the extension is left (other databases may use it).
    pass


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0007_chunk_context"),
    ]

    operations = [
        migrations.AddField(
            model_name="refilljob",
            name="embedded",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="refilljob",
            name="to_embed",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="version",
            name="embedding_model",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
        migrations.CreateModel(
            name="ChunkEmbedding",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("model", models.CharField(max_length=200)),
                ("dimension", models.PositiveIntegerField()),
                ("vector", models.BinaryField()),
                (
                    "chunk",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="embeddings",
                        to="datasets.chunk",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("chunk", "model"), name="dataset_chunk_embedding_once"
                    )
                ],
            },
        ),
        migrations.RunPython(_pgvector, _pgvector_back),
    ]
