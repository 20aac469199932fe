"""The gates of a fine-tune job (DESIGN sections 8 and 15), registered in the governance gate registry.

They run when the job is created (a refusal lists every failed gate) and again when a worker claims it,
so a DPIA that expired or a dataset tainted while the job waited in the queue still stops it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from governance import gates
from governance.choices import AISystemStatus, DatasetPurpose, DatasetVersionStatus
from governance.gates import Failure
from governance.models import AISystem, DatasetVersion, Deployment
from governance.selectors.registers import dpia_effective_for_dataset
from training.choices import AdapterStatus, BaseModelStatus, EvaluationSubject
from training.models import AdapterVersion, BaseModel, FineTuneJob

SCOPE = "fine_tune_job"


@dataclass(frozen=True)
class JobSubject:
    """What the gates look at: the inputs of a job about to be created, or those of a stored one."""

    ai_system: AISystem
    base_model: BaseModel
    version: DatasetVersion
    max_seq_length: int

    @classmethod
    def of_job(cls, job_id: int) -> JobSubject:
        """The job's inputs as they are now in the database (not as they were when it was queued)."""
        job = FineTuneJob.objects.select_related("ai_system", "base_model", "dataset_version__dataset").get(
            pk=job_id
        )
        return cls(job.ai_system, job.base_model, job.dataset_version, job.hyperparameters["max_seq_length"])


def dataset_version_taint(version: DatasetVersion) -> str:
    """Why a dataset version must not be trained on, or "" when nothing says so.

    Erasure (DESIGN section 9) marks what held an erased subject. A version is tainted when it carries
    its own taint (a `taint_reason` field, once governance adds one) or when an adapter trained on it
    was tainted: that adapter's data is this version's data.
    """
    own = getattr(version, "taint_reason", "") or ""
    if own:
        return str(own)
    tainted = AdapterVersion.objects.filter(dataset_version=version, status=AdapterStatus.TAINTED).first()
    return f"adapter {tainted.name} trained on it is tainted: {tainted.taint_reason}" if tainted else ""


def ai_system_retired(s: JobSubject) -> Failure | None:
    if s.ai_system.status == AISystemStatus.RETIRED:
        return Failure("the AI system is retired")
    return None


def dataset_not_scanned(s: JobSubject) -> Failure | None:
    if s.version.status != DatasetVersionStatus.READY:
        return Failure(
            f"the dataset version is '{s.version.status}': it must be scanned (ready) first",
            {"status": s.version.status},
        )
    return None


def dataset_purpose(s: JobSubject) -> Failure | None:
    purpose = s.version.dataset.purpose
    if purpose != DatasetPurpose.TRAINING:
        return Failure(f"the dataset's purpose is '{purpose}', not training", {"purpose": purpose})
    return None


def dataset_not_linked(s: JobSubject) -> Failure | None:
    # The dataset register says which systems may use a dataset; a job must not borrow another's data.
    if not s.version.dataset.ai_systems.filter(pk=s.ai_system.pk).exists():
        return Failure(
            "the dataset is not linked to the job's AI system",
            {"ai_system": s.ai_system.pk, "dataset": s.version.dataset_id},
        )
    return None


def no_legal_basis(s: JobSubject) -> Failure | None:
    if not s.version.dataset.legal_basis:
        return Failure("the dataset has no GDPR Art. 6 legal basis recorded")
    return None


def _personal(s: JobSubject) -> bool:
    return bool(s.version.contains_personal_data or s.version.dataset.contains_personal_data)


def no_dpia(s: JobSubject) -> Failure | None:
    if _personal(s) and dpia_effective_for_dataset(s.version.dataset) is None:
        return Failure("the dataset holds personal data and no approved, unexpired DPIA covers it")
    return None


def dpia_not_for_ai_system(s: JobSubject) -> Failure | None:
    # Only when some DPIA covers the dataset (otherwise `no_dpia` said it): it must assess this system.
    dataset = s.version.dataset
    if not _personal(s) or dpia_effective_for_dataset(dataset) is None:
        return None
    if dpia_effective_for_dataset(dataset, ai_system=s.ai_system) is None:
        return Failure(
            "the approved DPIA that covers the dataset assesses another AI system, not the job's",
            {"ai_system": s.ai_system.pk},
        )
    return None


def no_holdout(s: JobSubject) -> Failure | None:
    if s.version.holdout_count <= 0:
        return Failure("the dataset version has no hold-out records to evaluate on")
    return None


def tainted_base_model(s: JobSubject) -> Failure | None:
    if s.base_model.taint_reason:
        return Failure(f"the base model is tainted: {s.base_model.taint_reason}")
    return None


def tainted_dataset_version(s: JobSubject) -> Failure | None:
    reason = dataset_version_taint(s.version)
    return Failure(f"the dataset version is tainted: {reason}") if reason else None


def base_model_not_ready(s: JobSubject) -> Failure | None:
    if s.base_model.status != BaseModelStatus.READY:
        return Failure(
            f"the base model's weight manifest is '{s.base_model.status}', not ready",
            {"status": s.base_model.status},
        )
    return None


def records_too_long(s: JobSubject) -> Failure | None:
    """Registered to run last and only when the rest passed: it reads and tokenizes every train record."""
    from training.trainer.data import DataError, count_too_long

    try:
        tokenizer = _tokenizer(s.base_model.path, s.base_model.config_sha256)
        total, too_long = count_too_long(tokenizer, s.version, max_seq_length=s.max_seq_length)
    except (DataError, OSError) as exc:
        return Failure(
            f"the dataset version's file cannot be read ({type(exc).__name__})", code="dataset_unreadable"
        )
    if total and too_long == total:
        return Failure(
            f"all {total} train records are longer than max_seq_length={s.max_seq_length} tokens",
            {"train_records": total, "too_long": too_long, "max_seq_length": s.max_seq_length},
        )
    return None


# --- Deployment gates (governance's "deployment" scope; the subject is a governance Deployment) -------

DEPLOYMENT_SCOPE = "deployment"


def deployed_adapter(d: Deployment) -> Failure | None:
    adapter = d.adapter_version
    if adapter is None:
        return None
    if adapter.status == AdapterStatus.TAINTED:
        return Failure(
            f"the adapter {adapter.name} is tainted: {adapter.taint_reason}",
            code="adapter_tainted",
            remedy="deploy another adapter (a retrain on the cleaned dataset version, once approved)",
        )
    if adapter.status not in (AdapterStatus.APPROVED, AdapterStatus.DEPLOYED):
        return Failure(
            f"the adapter {adapter.name} is '{adapter.status}': a compliance officer must approve it",
            {"status": adapter.status},
            code="adapter_not_approved",
        )
    evaluated = adapter.evaluations.filter(subject=EvaluationSubject.ADAPTER)
    if not evaluated.exists():
        return Failure(f"the adapter {adapter.name} has no hold-out evaluation", code="adapter_not_evaluated")
    failed = sorted(evaluated.filter(passed=False).values_list("pk", flat=True))
    if failed and not adapter.override_justification:
        return Failure(
            f"the adapter {adapter.name} failed its hold-out evaluation and carries no officer's override",
            {"evaluations": failed},
            code="evaluation_failed",
        )
    return None


def deployed_base_model(d: Deployment) -> Failure | None:
    base = d.base_model
    if base.taint_reason:
        return Failure(f"the base model is tainted: {base.taint_reason}", code="base_model_tainted")
    if base.status != BaseModelStatus.READY:
        return Failure(
            f"the base model's weight manifest is '{base.status}', not ready",
            {"status": base.status},
            code="base_model_not_ready",
        )
    return None


def register_deployment_gates() -> None:
    gates.register(
        DEPLOYMENT_SCOPE,
        "adapter",
        deployed_adapter,
        description="the adapter, if any, is approved, not tainted, and passed its hold-out evaluation "
        "(or carries an officer's written override)",
        remedy="an officer approves the adapter (with a written override where its evaluation failed)",
    )
    gates.register(
        DEPLOYMENT_SCOPE,
        "base_model",
        deployed_base_model,
        description="the base model is not tainted and its weight manifest is ready",
        remedy="deploy another base model, or finish its weight manifest",
    )


@lru_cache(maxsize=4)
def _tokenizer(path: str, config_sha256: str) -> Any:
    from training.trainer.data import load_tokenizer

    return load_tokenizer(path)


def register_gates() -> None:
    """Called from TrainingConfig.ready(); the order here is the order a refusal lists them in."""
    for check in (
        ai_system_retired,
        dataset_not_scanned,
        dataset_purpose,
        dataset_not_linked,
        no_legal_basis,
        no_dpia,
        dpia_not_for_ai_system,
        no_holdout,
        tainted_base_model,
        tainted_dataset_version,
        base_model_not_ready,
    ):
        gates.register(SCOPE, check.__name__, check)
    gates.register(SCOPE, "records_too_long", records_too_long, after_others=True)
    register_deployment_gates()
