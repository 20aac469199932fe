"""Hybrid retrieval (issue 12): full-text lexemes per chunk, the title and header embedded with chunks.

Each chunk row gets `heading` (what was embedded with its text: the collection's header and the
document's title) and `lexemes`, a tsvector that a BEFORE INSERT trigger on each partition computes
with the collection's text search configuration (the heading weighted A, the text D). A GIN index on
each partition's lexemes answers the full-text half of a hybrid query. Chunks are only ever inserted
(COPY) and deleted, never updated, so an insert trigger keeps the column true.

Existing collections keep what their vectors were built with: `embed_title` False and no header (a
re-upload of a document re-embeds it with the new settings only if the officer creates a new
collection); their chunks get lexemes from their text here. New collections embed titles by default.
"""

from django.contrib.postgres.search import SearchVectorField
from django.db import migrations, models

LEXEME_FUNCTION = """
CREATE OR REPLACE FUNCTION retrieval_chunk_lexemes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.lexemes := setweight(to_tsvector(TG_ARGV[0]::regconfig, NEW.heading), 'A')
        || to_tsvector(TG_ARGV[0]::regconfig, NEW.text);
    RETURN NEW;
END
$$;
"""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def add_lexemes_to_partitions(apps, schema_editor):  # type: ignore[no-untyped-def]
    collection_model = apps.get_model("retrieval", "Collection")
    with schema_editor.connection.cursor() as cursor:
        for collection in collection_model.objects.order_by("pk"):
            partition = _quote(f"retrieval_chunk_p{int(collection.pk)}")
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"retrieval_chunk_p{int(collection.pk)}"])
            if not cursor.fetchone()[0]:
                continue
            cursor.execute(
                f"CREATE TRIGGER retrieval_chunk_lexemes BEFORE INSERT ON {partition} "
                "FOR EACH ROW EXECUTE FUNCTION retrieval_chunk_lexemes('english')"
            )
            cursor.execute(f"UPDATE {partition} SET lexemes = to_tsvector('english'::regconfig, text)")
            index = _quote(f"retrieval_chunk_p{int(collection.pk)}_lexemes")
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {partition} USING gin (lexemes)")


class Migration(migrations.Migration):
    dependencies = [("retrieval", "0003_erasure")]

    operations = [
        migrations.AddField(
            model_name="collection",
            name="retrieval_mode",
            field=models.CharField(
                choices=[
                    ("hybrid", "Hybrid (vector + full-text, reciprocal rank fusion)"),
                    ("dense", "Vector search only"),
                    ("lexical", "Full-text search only"),
                ],
                default="dense",
                help_text="Default ranking of a query; a query may ask for another",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="collection",
            name="text_search_config",
            field=models.CharField(
                default="english",
                help_text="PostgreSQL text search configuration (language) of the full-text index",
                max_length=63,
            ),
        ),
        migrations.AddField(
            model_name="collection",
            name="embed_title",
            field=models.BooleanField(
                default=False, help_text="Embed (and full-text index) each chunk with its document's title"
            ),
        ),
        migrations.AlterField(
            model_name="collection",
            name="embed_title",
            field=models.BooleanField(
                default=True, help_text="Embed (and full-text index) each chunk with its document's title"
            ),
        ),
        migrations.AddField(
            model_name="collection",
            name="chunk_header",
            field=models.CharField(
                blank=True,
                help_text="Text embedded (and full-text indexed) with every chunk, e.g. what the collection holds",
                max_length=200,
            ),
        ),
        migrations.AddConstraint(
            model_name="collection",
            constraint=models.CheckConstraint(
                condition=models.Q(retrieval_mode__in=["hybrid", "dense", "lexical"]),
                name="collection_retrieval_mode_valid",
            ),
        ),
        migrations.AddField(
            model_name="querylog",
            name="retrieval_mode",
            field=models.CharField(
                choices=[
                    ("hybrid", "Hybrid (vector + full-text, reciprocal rank fusion)"),
                    ("dense", "Vector search only"),
                    ("lexical", "Full-text search only"),
                ],
                default="dense",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="querylog",
            name="group_by_document",
            field=models.BooleanField(default=False),
        ),
        migrations.AlterField(
            model_name="querylog",
            name="search_mode",
            field=models.CharField(
                choices=[
                    ("hnsw", "HNSW index"),
                    ("exact", "Exact search"),
                    ("none", "Nothing to search"),
                    ("lexical", "No vector search (full-text only)"),
                ],
                max_length=10,
            ),
        ),
        migrations.RemoveConstraint(model_name="querylog", name="querylog_search_mode_valid"),
        migrations.AddConstraint(
            model_name="querylog",
            constraint=models.CheckConstraint(
                condition=models.Q(search_mode__in=["hnsw", "exact", "none", "lexical"]),
                name="querylog_search_mode_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="querylog",
            constraint=models.CheckConstraint(
                condition=models.Q(retrieval_mode__in=["hybrid", "dense", "lexical"]),
                name="querylog_retrieval_mode_valid",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="chunk", name="heading", field=models.TextField(blank=True, default="")
                ),
                migrations.AddField(
                    model_name="chunk",
                    name="lexemes",
                    field=SearchVectorField(editable=False, null=True),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE retrieval_chunk ADD COLUMN heading text NOT NULL DEFAULT '', "
                    "ADD COLUMN lexemes tsvector;" + LEXEME_FUNCTION,
                    "ALTER TABLE retrieval_chunk DROP COLUMN heading, DROP COLUMN lexemes; "
                    "DROP FUNCTION IF EXISTS retrieval_chunk_lexemes();",
                ),
                migrations.RunPython(add_lexemes_to_partitions, migrations.RunPython.noop),
            ],
        ),
    ]
