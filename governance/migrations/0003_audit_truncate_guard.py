# Placeholder in the migration chain; operations are filled in by the change that owns it.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("governance", "0002_vector_audit_trigger_roles")]

    operations: list = []
