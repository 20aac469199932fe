"""Legal holds and the record of retention sweeps (issue 13, GDPR Art. 5(1)(e))."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0009_subject_requests"),
        ("retrieval", "0004_hybrid_retrieval"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="LegalHold",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False),
                ),
                ("reason", models.TextField(verbose_name="reason")),
                ("lifted_at", models.DateTimeField(blank=True, null=True)),
                ("lift_reason", models.TextField(blank=True)),
                (
                    "collection",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="legal_holds",
                        to="retrieval.collection",
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "dataset",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="legal_holds",
                        to="governance.dataset",
                    ),
                ),
                (
                    "lifted_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="RetentionRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "rule",
                    models.CharField(
                        choices=[
                            ("dataset_retention_until", "Dataset past its retention date (personal records)"),
                            ("collection_document_retention", "Documents past their collection's retention"),
                        ],
                        max_length=40,
                    ),
                ),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("notified", "Officers notified"),
                            ("enforced", "Deleted"),
                            ("held", "Kept under a legal hold"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "target_type",
                    models.CharField(
                        choices=[("dataset", "Dataset"), ("collection", "Collection")], max_length=20
                    ),
                ),
                ("target_id", models.BigIntegerField()),
                ("target_name", models.CharField(max_length=200)),
                ("due_on", models.DateField(help_text="The first day the data may no longer be kept")),
                ("counts", models.JSONField(blank=True, default=dict)),
                ("ids", models.JSONField(blank=True, default=dict)),
                (
                    "notified",
                    models.JSONField(blank=True, default=list, help_text="Officer user ids e-mailed"),
                ),
                ("purge", models.JSONField(blank=True, default=dict)),
                ("purged_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                (
                    "hold",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="runs",
                        to="governance.legalhold",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
            },
        ),
        migrations.AddConstraint(
            model_name="legalhold",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("collection__isnull", True), ("dataset__isnull", False)),
                    models.Q(("collection__isnull", False), ("dataset__isnull", True)),
                    _connector="OR",
                ),
                name="legal_hold_one_target",
            ),
        ),
        migrations.AddConstraint(
            model_name="legalhold",
            constraint=models.CheckConstraint(
                condition=models.Q(("reason", ""), _negated=True), name="legal_hold_reason_required"
            ),
        ),
        migrations.AddConstraint(
            model_name="retentionrun",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("rule__in", ["dataset_retention_until", "collection_document_retention"])
                ),
                name="retention_run_rule_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="retentionrun",
            constraint=models.CheckConstraint(
                condition=models.Q(("outcome__in", ["notified", "enforced", "held"])),
                name="retention_run_outcome_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="retentionrun",
            constraint=models.CheckConstraint(
                condition=models.Q(("target_type__in", ["dataset", "collection"])),
                name="retention_run_target_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="retentionrun",
            constraint=models.UniqueConstraint(
                condition=models.Q(("outcome__in", ["notified", "held"])),
                fields=("outcome", "target_type", "target_id", "due_on"),
                name="retention_run_once_per_due_date",
            ),
        ),
    ]
