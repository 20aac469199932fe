# Placeholder in the migration chain; operations are filled in by the change that owns it.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("governance", "0003_audit_truncate_guard")]

    operations: list = []
