"""Per-collection document retention (issue 13): documents older than it are removed by the sweep."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("retrieval", "0004_hybrid_retrieval"),
    ]

    operations = [
        migrations.AddField(
            model_name="collection",
            name="document_retention_days",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Delete documents this many days after they were stored; empty: keep",
                null=True,
            ),
        ),
        migrations.AddConstraint(
            model_name="collection",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("document_retention_days__isnull", True),
                    ("document_retention_days__gte", 1),
                    _connector="OR",
                ),
                name="collection_document_retention_positive",
            ),
        ),
    ]
