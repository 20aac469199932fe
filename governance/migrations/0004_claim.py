# The claim primitive's owner columns (governance/claim.py).
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("governance", "0003_audit_truncate_guard")]

    operations = [
        migrations.AddField(
            model_name="datasetversion", name="attempts", field=models.PositiveSmallIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="datasetversion",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="datasetversion",
            name="worker_host",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name="datasetversion",
            name="worker_pid",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
