# Placeholder in the migration chain; operations are filled in by the change that owns it.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("training", "0002_adapter_override")]

    operations: list = []
