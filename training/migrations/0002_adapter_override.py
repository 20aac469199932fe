# Approving an adapter that failed its hold-out evaluation keeps the written justification, who, when.
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("training", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="adapterversion",
            name="override_justification",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="adapterversion",
            name="override_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="adapterversion",
            name="override_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
