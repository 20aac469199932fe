# The claim primitive's owner columns (governance/claim.py).
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("retrieval", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="collection", name="attempts", field=models.PositiveSmallIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="collection", name="heartbeat_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="collection", name="worker_host", field=models.CharField(blank=True, max_length=255)
        ),
        migrations.AddField(
            model_name="collection",
            name="worker_pid",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="document", name="attempts", field=models.PositiveSmallIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="document", name="heartbeat_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="document", name="worker_host", field=models.CharField(blank=True, max_length=255)
        ),
        migrations.AddField(
            model_name="document", name="worker_pid", field=models.PositiveIntegerField(blank=True, null=True)
        ),
    ]
