"""Erasure requests (issue 8): an adapter records when an erasure deleted its files."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("training", "0003_claim"), ("governance", "0005_erasure")]

    operations = [
        migrations.AddField(
            model_name="adapterversion",
            name="files_deleted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
