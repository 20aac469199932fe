"""Gates a fine-tune job passes at creation (DESIGN section 8); every failure is reported, not the first."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from governance.choices import AISystemStatus, DatasetPurpose, DatasetVersionStatus
from governance.models import AISystem, DatasetVersion
from governance.selectors.registers import dpia_effective_for_dataset
from training.choices import AdapterStatus, BaseModelStatus
from training.models import AdapterVersion, BaseModel


@dataclass(frozen=True)
class GateFailure:
    """One failed gate: a stable code and a sentence for the person who reads the refusal."""

    gate: str
    message: str
    details: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"gate": self.gate, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out


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


def job_gate_failures(
    *, ai_system: AISystem, base_model: BaseModel, version: DatasetVersion, max_seq_length: int
) -> list[GateFailure]:
    """Check every gate and return the ones that fail (an empty list means the job may start)."""
    dataset = version.dataset
    failures: list[GateFailure] = []
    if ai_system.status == AISystemStatus.RETIRED:
        failures.append(GateFailure("ai_system_retired", "the AI system is retired"))
    if version.status != DatasetVersionStatus.READY:
        failures.append(
            GateFailure(
                "dataset_not_scanned",
                f"the dataset version is '{version.status}': it must be scanned (ready) first",
                {"status": version.status},
            )
        )
    if dataset.purpose != DatasetPurpose.TRAINING:
        failures.append(
            GateFailure(
                "dataset_purpose",
                f"the dataset's purpose is '{dataset.purpose}', not training",
                {"purpose": dataset.purpose},
            )
        )
    if not dataset.legal_basis:
        failures.append(GateFailure("no_legal_basis", "the dataset has no GDPR Art. 6 legal basis recorded"))
    personal = version.contains_personal_data or dataset.contains_personal_data
    if personal and dpia_effective_for_dataset(dataset) is None:
        failures.append(
            GateFailure(
                "no_dpia", "the dataset holds personal data and no approved, unexpired DPIA covers it"
            )
        )
    if version.holdout_count <= 0:
        failures.append(
            GateFailure("no_holdout", "the dataset version has no hold-out records to evaluate on")
        )
    failures.extend(_taint_failures(base_model, version))
    if base_model.status != BaseModelStatus.READY:
        failures.append(
            GateFailure(
                "base_model_not_ready",
                f"the base model's weight manifest is '{base_model.status}', not ready",
                {"status": base_model.status},
            )
        )
    if not failures:
        failures.extend(_length_failures(base_model, version, max_seq_length))
    return failures


def _taint_failures(base_model: BaseModel, version: DatasetVersion) -> list[GateFailure]:
    failures = []
    if base_model.taint_reason:
        failures.append(
            GateFailure("tainted_base_model", f"the base model is tainted: {base_model.taint_reason}")
        )
    reason = dataset_version_taint(version)
    if reason:
        failures.append(GateFailure("tainted_dataset_version", f"the dataset version is tainted: {reason}"))
    return failures


def _length_failures(
    base_model: BaseModel, version: DatasetVersion, max_seq_length: int
) -> list[GateFailure]:
    # Runs last and only on a scanned version: it reads and tokenizes every train record.
    from training.trainer.data import DataError, count_too_long

    try:
        total, too_long = count_too_long(
            _tokenizer(base_model.path, base_model.config_sha256), version, max_seq_length=max_seq_length
        )
    except (DataError, OSError) as exc:
        return [
            GateFailure(
                "dataset_unreadable", f"the dataset version's file cannot be read ({type(exc).__name__})"
            )
        ]
    if total and too_long == total:
        return [
            GateFailure(
                "records_too_long",
                f"all {total} train records are longer than max_seq_length={max_seq_length} tokens",
                {"train_records": total, "too_long": too_long, "max_seq_length": max_seq_length},
            )
        ]
    return []


@lru_cache(maxsize=4)
def _tokenizer(path: str, config_sha256: str) -> Any:
    from training.trainer.data import load_tokenizer

    return load_tokenizer(path)
