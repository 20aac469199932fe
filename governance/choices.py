"""TextChoices for every status and category field in governance."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class RiskClass(models.TextChoices):
    PROHIBITED = "prohibited", "Prohibited"
    HIGH = "high", "High risk"
    LIMITED = "limited", "Limited risk"
    MINIMAL = "minimal", "Minimal risk"


class Approach(models.TextChoices):
    PROMPTING = "prompting", "Prompting"
    RAG = "rag", "Retrieval-augmented generation"
    FINE_TUNING = "fine_tuning", "Fine-tuning"
    HYBRID = "hybrid", "Hybrid (RAG + fine-tuning)"


class AISystemStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class DatasetPurpose(models.TextChoices):
    TRAINING = "training", "Training"
    EVALUATION = "evaluation", "Evaluation"
    KNOWLEDGE = "knowledge", "Knowledge (RAG)"


class LegalBasis(models.TextChoices):
    """GDPR Art. 6(1) lawful bases."""

    NONE = "", "Not recorded"
    CONSENT = "consent", "Art. 6(1)(a) consent"
    CONTRACT = "contract", "Art. 6(1)(b) contract"
    LEGAL_OBLIGATION = "legal_obligation", "Art. 6(1)(c) legal obligation"
    VITAL_INTERESTS = "vital_interests", "Art. 6(1)(d) vital interests"
    PUBLIC_TASK = "public_task", "Art. 6(1)(e) public task"
    LEGITIMATE_INTERESTS = "legitimate_interests", "Art. 6(1)(f) legitimate interests"


class DatasetVersionStatus(models.TextChoices):
    PENDING = "pending", "Pending scan"
    SCANNING = "scanning", "Scanning"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    # An erasure request rewrote it without the subject's records: the row and its record hashes stay
    # for lineage, the file is gone.
    ERASED = "erased", "Erased (content removed)"


class RecordSplit(models.TextChoices):
    TRAIN = "train", "Train"
    HOLDOUT = "holdout", "Hold-out"


class DPIAStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    IN_REVIEW = "in_review", _("In review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")


class Level(models.TextChoices):
    """Likelihood and severity scale of the CNIL PIA method."""

    NEGLIGIBLE = "negligible", "Negligible"
    LIMITED = "limited", "Limited"
    SIGNIFICANT = "significant", "Significant"
    MAXIMUM = "maximum", "Maximum"


def check_in(field: str, choices: type[models.TextChoices]) -> models.Q:
    """The Q for a database check constraint that keeps `field` within `choices`."""
    return models.Q(**{f"{field}__in": choices.values})


class ErasureStatus(models.TextChoices):
    """received -> in_progress -> erased -> completed; or failed, rejected (Art. 17(3)), on_hold."""

    RECEIVED = "received", _("Received")
    IN_PROGRESS = "in_progress", _("Logical erasure running")
    ERASED = "erased", _("Erased, purge pending")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    REJECTED = "rejected", _("Rejected")
    ON_HOLD = "on_hold", _("On hold")


class ErasureGround(models.TextChoices):
    """GDPR Art. 17(3): the grounds on which an erasure request may be refused."""

    FREEDOM_OF_EXPRESSION = "freedom_of_expression", _("Art. 17(3)(a) freedom of expression and information")
    LEGAL_OBLIGATION = "legal_obligation", _("Art. 17(3)(b) legal obligation or public task")
    PUBLIC_HEALTH = "public_health", _("Art. 17(3)(c) public interest in public health")
    ARCHIVING_RESEARCH = "archiving_research", _("Art. 17(3)(d) archiving, research or statistics")
    LEGAL_CLAIMS = "legal_claims", _("Art. 17(3)(e) legal claims")


class RequestKind(models.TextChoices):
    """What a data subject asks: to be forgotten (Art. 17), to see (Art. 15) or to take (Art. 20) data."""

    ERASURE = "erasure", _("Erasure (Art. 17)")
    ACCESS = "access", _("Access (Art. 15)")
    PORTABILITY = "portability", _("Portability (Art. 20)")


class RefusalGround(models.TextChoices):
    """Grounds for refusing an access or portability request (and, for any kind, Art. 12(5))."""

    MANIFESTLY_UNFOUNDED = "manifestly_unfounded", _("Art. 12(5) manifestly unfounded or excessive")
    RIGHTS_OF_OTHERS = "rights_of_others", _("Art. 15(4) / 20(4) adversely affects the rights of others")
    NOT_PORTABLE = (
        "not_portable",
        _("Art. 20(1) processing not based on consent or contract, or not automated"),
    )


# Which grounds a request of each kind may be refused on.
GROUNDS_BY_KIND: dict[str, tuple[str, ...]] = {
    "erasure": (*[str(v) for v in ErasureGround.values], "manifestly_unfounded"),
    "access": ("manifestly_unfounded", "rights_of_others"),
    "portability": ("manifestly_unfounded", "rights_of_others", "not_portable"),
}
ALL_GROUNDS: list[tuple[str, Any]] = [*ErasureGround.choices, *RefusalGround.choices]


class NameMatchDecision(models.TextChoices):
    """An officer's decision on an item matched by a person name only."""

    UNDECIDED = "undecided", _("Undecided")
    CONFIRMED = "confirmed", _("Confirmed: the subject's, erase it")
    EXCLUDED = "excluded", _("Excluded: someone else's, keep it")


class Environment(models.TextChoices):
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class DeploymentStatus(models.TextChoices):
    """requested -> approved -> active -> retired; approved or active -> blocked when a gate stops holding."""

    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    ACTIVE = "active", _("Active")
    RETIRED = "retired", _("Retired")
    BLOCKED = "blocked", _("Blocked")


class AnswerBackend(models.TextChoices):
    """Where a deployment's answers are generated (answers/backends)."""

    LOCAL = "local", "Local: transformers + peft in the answering process"
    OPENAI_COMPATIBLE = "openai_compatible", "An OpenAI-compatible inference server (vLLM)"


class DeclarationStatus(models.TextChoices):
    """Where the EU declaration of conformity (AI Act Art. 47) stands."""

    NOT_STARTED = "not_started", "Not started"
    DRAFTED = "drafted", "Drafted"
    SIGNED = "signed", "Signed"
    NOT_REQUIRED = "not_required", "Not required (not a high-risk system)"
