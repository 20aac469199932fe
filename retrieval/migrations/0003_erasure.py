"""Erasure requests (issue 8): query logs carry the subject keys of the identifiers found in the query."""

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("retrieval", "0002_claim"), ("governance", "0005_erasure")]

    operations = [
        migrations.AddField(
            model_name="querylog",
            name="subject_keys",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=64), blank=True, default=list, size=None
            ),
        ),
        migrations.AddIndex(
            model_name="querylog",
            index=django.contrib.postgres.indexes.GinIndex(fields=["subject_keys"], name="querylog_keys_gin"),
        ),
    ]
