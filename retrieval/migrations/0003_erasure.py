"""Erasure requests (issue 8): placeholder filled by the helper that owns retrieval's erasure changes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("retrieval", "0002_claim"), ("governance", "0005_erasure")]

    operations: list[migrations.operations.base.Operation] = []
