"""Datasets, their immutable versions and one row per record."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from governance.choices import DatasetPurpose, DatasetVersionStatus, LegalBasis, RecordSplit, check_in
from governance.models.base import RegisterModel


class Dataset(RegisterModel):
    """A named dataset with its purpose, GDPR legal basis and provenance."""

    name = models.CharField(max_length=200, unique=True)
    ai_systems = models.ManyToManyField("governance.AISystem", related_name="datasets", blank=True)
    purpose = models.CharField(max_length=20, choices=DatasetPurpose.choices)
    legal_basis = models.CharField(max_length=30, choices=LegalBasis.choices, blank=True, default="")
    provenance = models.TextField(blank=True)
    retention_until = models.DateField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_datasets"
    )
    # Raised by scans or by hand; services never lower it.
    contains_personal_data = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=check_in("purpose", DatasetPurpose), name="dataset_purpose_valid"
            ),
            models.CheckConstraint(
                condition=check_in("legal_basis", LegalBasis), name="dataset_legal_basis_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DatasetVersion(RegisterModel):
    """An immutable, numbered JSONL version of a dataset, split into train and hold-out at upload."""

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    file = models.CharField(max_length=500, help_text="Path of the normalised JSONL under MEDIA_ROOT")
    sha256 = models.CharField(max_length=64, help_text="sha256 of the stored, normalised file")
    source_sha256 = models.CharField(max_length=64, help_text="sha256 of the uploaded bytes")
    size_bytes = models.BigIntegerField()
    record_count = models.PositiveIntegerField()
    duplicates_removed = models.PositiveIntegerField(default=0)
    holdout_fraction = models.FloatField()
    split_seed = models.BigIntegerField()
    holdout_count = models.PositiveIntegerField()
    record_format = models.CharField(max_length=20, help_text="input_output, messages or mixed")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    reason = models.CharField(max_length=300, blank=True)
    status = models.CharField(
        max_length=20, choices=DatasetVersionStatus.choices, default=DatasetVersionStatus.PENDING
    )
    scanned_records = models.PositiveIntegerField(default=0)
    pii_summary = models.JSONField(default=dict, blank=True)
    contains_personal_data = models.BooleanField(default=False)
    scan_error = models.TextField(blank=True)
    scan_started_at = models.DateTimeField(null=True, blank=True)
    scan_finished_at = models.DateTimeField(null=True, blank=True)
    # Records the scan dropped because they carry a suppressed subject key (an earlier erasure request).
    suppressed_records = models.PositiveIntegerField(default=0)
    # Set when an erasure request replaced this version: its file is deleted, its rows keep hashes only.
    erased_at = models.DateTimeField(null=True, blank=True)
    erasure_reference = models.CharField(max_length=100, blank=True)
    # The claim primitive's columns (governance/claim.py): who holds the row and since when it is alive.
    attempts = models.PositiveSmallIntegerField(default=0)
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="dataset_version_number_unique"),
            models.CheckConstraint(
                condition=check_in("status", DatasetVersionStatus), name="dataset_version_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(holdout_fraction__gte=0.1, holdout_fraction__lte=0.2),
                name="dataset_version_holdout_10_20",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.number}"

    @property
    def progress(self) -> float:
        return 1.0 if not self.record_count else self.scanned_records / self.record_count


class DatasetRecord(models.Model):
    """One record of a version: its hash, split and the subject keys of the people in it."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="records")
    ordinal = models.PositiveIntegerField(help_text="0-based line of the record in the stored file")
    sha256 = models.CharField(max_length=64)
    split = models.CharField(max_length=10, choices=RecordSplit.choices)
    byte_offset = models.BigIntegerField()
    subject_keys = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    pii_summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["version", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["version", "ordinal"], name="dataset_record_ordinal_unique"),
            models.UniqueConstraint(fields=["version", "sha256"], name="dataset_record_sha_unique"),
            models.CheckConstraint(
                condition=check_in("split", RecordSplit), name="dataset_record_split_valid"
            ),
        ]
        indexes = [GinIndex(fields=["subject_keys"], name="dataset_record_keys_gin")]

    def __str__(self) -> str:
        return f"{self.version} #{self.ordinal}"
