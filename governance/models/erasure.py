"""Data subject requests (GDPR Art. 15, 17 and 20), the items matched by a name only, the response
packages of access and portability requests, and the suppression list."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.choices import ALL_GROUNDS, ErasureStatus, NameMatchDecision, RequestKind, check_in
from governance.models.base import RegisterModel


class ErasureRequest(RegisterModel):
    """One data subject request: to be forgotten (erasure), to see (access) or to take (portability)
    what the platform holds about the person, carried out across every registered store.

    All kinds share intake, identifiers, deadlines, extension, refusal, hold and name-match decisions.
    An erasure runs the two phases (logical, purge) and ends with a certificate; an access or
    portability request runs one export and ends with a SubjectPackage. The row holds identifier
    *types* and subject keys only. The raw identifiers live encrypted
    (Fernet, settings.ERASURE_IDENTIFIER_KEY) in `identifiers_encrypted` while the request runs,
    because verification searches text for them after the purge; the ciphertext is destroyed when the
    request ends (completed or rejected).
    """

    kind = models.CharField(
        _("kind"), max_length=20, choices=RequestKind.choices, default=RequestKind.ERASURE
    )
    reference = models.CharField(_("reference"), max_length=100, unique=True)
    # type -> how many identifiers of that type the request named; never a value.
    identifier_types = models.JSONField(default=dict)
    # Keys of the unambiguous identifiers: an item carrying one is the subject's.
    subject_keys = ArrayField(models.CharField(max_length=64), default=list)
    # Keys of person names: a name never erases on its own (several people share one).
    name_keys = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    identifiers_encrypted = models.BinaryField(null=True, blank=True, editable=False)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    due_at = models.DateTimeField(
        _("due at"), help_text=_("One month after receipt, plus any extension (Art. 12(3))")
    )
    extension_months = models.PositiveSmallIntegerField(default=0)
    extension_reason = models.TextField(blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=ErasureStatus.choices, default=ErasureStatus.RECEIVED
    )
    rejection_ground = models.CharField(_("rejection ground"), max_length=30, choices=ALL_GROUNDS, blank=True)
    rejection_reason = models.TextField(blank=True)
    hold_reason = models.TextField(blank=True)
    # What each participant found before execution: store -> counts.
    preview = models.JSONField(default=dict, blank=True)
    # Logical phase, store -> the participant's result (counts, affected collections, versions ...).
    results = models.JSONField(default=dict, blank=True)
    purge_results = models.JSONField(default=dict, blank=True)
    verification = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    executed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    executed_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True, help_text="Logical erasure finished")
    purge_due_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True, help_text="Physical purge finished")
    completed_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    certificate_file = models.CharField(max_length=500, blank=True)
    certificate_sha256 = models.CharField(max_length=64, blank=True)
    # The facts the certificate states, exactly as rendered (also served as JSON).
    certificate_facts = models.JSONField(default=dict, blank=True)
    chain_head_sequence = models.BigIntegerField(null=True, blank=True)
    chain_head_hash = models.CharField(max_length=64, blank=True)
    # The claim primitive's columns (governance/claim.py): who holds the row and since when it is alive.
    attempts = models.PositiveSmallIntegerField(default=0)
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("data subject request")
        verbose_name_plural = _("data subject requests")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=check_in("status", ErasureStatus), name="erasure_status_valid"),
            models.CheckConstraint(
                condition=check_in("kind", RequestKind), name="subject_request_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(rejection_ground="")
                | models.Q(rejection_ground__in=[value for value, _ in ALL_GROUNDS]),
                name="erasure_rejection_ground_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=ErasureStatus.REJECTED) | ~models.Q(rejection_ground=""),
                name="erasure_rejected_has_ground",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=ErasureStatus.ON_HOLD) | ~models.Q(hold_reason=""),
                name="erasure_hold_has_reason",
            ),
            models.CheckConstraint(
                condition=models.Q(extension_months__lte=2), name="erasure_extension_at_most_two_months"
            ),
            models.CheckConstraint(
                condition=models.Q(extension_months=0) | ~models.Q(extension_reason=""),
                name="erasure_extension_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"], name="erasure_status_due"),
            models.Index(fields=["kind", "status"], name="subject_request_kind_status"),
        ]

    def __str__(self) -> str:
        return self.reference


class ErasureNameMatch(models.Model):
    """An item that carries one of the subject's name keys and none of their other keys.

    Listed for the officer before `execute`: confirmed items are erased with the rest, excluded ones
    are left alone, and a request with undecided items cannot run.
    """

    request = models.ForeignKey(ErasureRequest, on_delete=models.CASCADE, related_name="name_matches")
    store = models.CharField(max_length=30, help_text="The participant that found it")
    kind = models.CharField(max_length=30, help_text="document, dataset_record, query_log, ...")
    object_id = models.BigIntegerField()
    label = models.CharField(max_length=300, help_text="Where it is, without its content")
    decision = models.CharField(
        max_length=10, choices=NameMatchDecision.choices, default=NameMatchDecision.UNDECIDED
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("erasure name match")
        verbose_name_plural = _("erasure name matches")
        ordering = ["request", "store", "kind", "object_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "kind", "object_id"], name="erasure_name_match_unique"
            ),
            models.CheckConstraint(
                condition=check_in("decision", NameMatchDecision), name="erasure_name_match_decision_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} ({self.decision})"


class SubjectPackage(models.Model):
    """The response to an access or portability request: an AES-encrypted ZIP (letter PDF + data JSON).

    The ZIP's password is generated by the worker that builds it and kept Fernet-encrypted only until
    an officer has been shown it once; then the ciphertext is destroyed. The file is deleted when it
    expires (settings.SUBJECT_PACKAGE_TTL_S) and, when single use, after its first download. Its sha256
    goes into the audit chain; its content never does. `summary` holds counts, never content.
    """

    request = models.ForeignKey(ErasureRequest, on_delete=models.PROTECT, related_name="packages")
    file = models.CharField(max_length=500, blank=True, help_text="Path under MEDIA_ROOT; empty once deleted")
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    summary = models.JSONField(default=dict, blank=True)
    single_use = models.BooleanField(default=True)
    password_encrypted = models.BinaryField(null=True, blank=True, editable=False)
    password_shown_at = models.DateTimeField(null=True, blank=True)
    password_shown_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    download_count = models.PositiveIntegerField(default=0)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    downloaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_reason = models.CharField(max_length=20, blank=True, help_text="expired, downloaded or replaced")

    class Meta:
        verbose_name = _("subject request package")
        verbose_name_plural = _("subject request packages")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["expires_at"],
                name="subject_package_live",
                condition=models.Q(deleted_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"package {self.pk} of {self.request}"


class SuppressedKey(models.Model):
    """A subject key no store may take in again, added when an erasure request completes.

    Only unambiguous keys are suppressed (never a bare name). An officer can lift a suppression with a
    reason; the row stays, with who lifted it and when.
    """

    key = models.CharField(max_length=64)
    key_type = models.CharField(max_length=20)
    request = models.ForeignKey(ErasureRequest, on_delete=models.PROTECT, related_name="suppressions")
    created_at = models.DateTimeField(default=timezone.now)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lift_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "key"], name="suppressed_key_per_request"),
            models.CheckConstraint(
                condition=models.Q(lifted_at__isnull=True) | ~models.Q(lift_reason=""),
                name="suppressed_key_lift_has_reason",
            ),
        ]
        indexes = [
            models.Index(
                fields=["key"], name="suppressed_key_active", condition=models.Q(lifted_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.key_type} key of {self.request}"
