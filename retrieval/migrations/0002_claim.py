# Placeholder in the migration chain; operations are filled in by the change that owns it.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("retrieval", "0001_initial")]

    operations: list = []
