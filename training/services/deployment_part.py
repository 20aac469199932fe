"""What an adapter and its base model add to a deployment: validation, datasets and Annex IV facts.

Registered with governance in TrainingConfig.ready() (governance/participants.py, DeploymentPart). The
facts come from the registers only (adapter lineage, evaluations, dataset versions), in a fixed order,
with no time of generation: the same registers give the same facts. They name ids, hashes and counts;
no record of a dataset reaches them.
"""

from __future__ import annotations

from typing import Any

from governance.errors import ValidationFailed
from governance.models import DatasetVersion, Deployment
from governance.participants import DatasetUse, DeploymentPart
from training.choices import EvaluationSubject
from training.models import AdapterVersion, BaseModel, Evaluation

Item = dict[str, Any]
# The lineage's hardware keys worth stating, in the order the documentation prints them. The host name
# stays out: it says where, not with what, and may name a person's machine.
HARDWARE_KEYS = (
    ("device_name", "Device"),
    ("device", "Device id"),
    ("precision", "Precision"),
    ("device_memory_bytes", "Device memory (bytes)"),
    ("peak_memory_bytes", "Peak memory allocated (bytes)"),
    ("cpu", "CPU"),
    ("cpu_count", "CPU cores"),
    ("python", "Python"),
    ("torch", "PyTorch"),
    ("cuda", "CUDA"),
    ("transformers", "Transformers"),
    ("peft", "PEFT"),
)
# The LoRA settings that shape what is trained; the rest of PEFT's config is defaults and host paths.
LORA_KEYS = (
    "peft_type",
    "task_type",
    "r",
    "lora_alpha",
    "lora_dropout",
    "target_modules",
    "bias",
    "use_rslora",
    "use_dora",
    "init_lora_weights",
    "modules_to_save",
    "peft_version",
)
TRAINING_KEYS = (
    ("steps", "Optimiser steps"),
    ("tokens", "Tokens trained on"),
    ("seconds", "Training time (s)"),
    ("trained_records", "Records trained on"),
    ("skipped_too_long", "Records skipped (longer than max_seq_length)"),
    ("final_loss", "Final training loss"),
    ("attempts", "Attempts (runs of the job)"),
)


def fact(label: str, value: Any, *, required: bool = False) -> Item:
    return {"kind": "fact", "label": label, "value": value, "required": required}


def table(label: str, columns: list[str], rows: list[list[Any]]) -> Item:
    return {"kind": "table", "label": label, "columns": columns, "rows": rows}


def _num(value: Any) -> Any:
    # Four decimals: enough for a score, and the same float always prints the same way.
    return round(value, 4) if isinstance(value, float) else value


# --- validate / datasets / personal data -----------------------------------------------------------


def validate(deployment: Deployment) -> None:
    """An adapter must belong to the deployment's AI system and sit on the deployment's base model."""
    adapter = deployment.adapter_version
    if adapter is None:
        return
    if adapter.ai_system_id != deployment.ai_system_id:
        raise ValidationFailed(
            f"the adapter {adapter.name} belongs to another AI system",
            code="adapter_of_another_system",
            details={"field": "adapter_version"},
        )
    if adapter.base_model_id != deployment.base_model_id:
        raise ValidationFailed(
            f"the adapter {adapter.name} was trained on another base model than the one deployed",
            code="adapter_base_model_mismatch",
            details={"field": "adapter_version"},
        )


def _adapter_evaluations(adapter: AdapterVersion) -> list[Evaluation]:
    return list(
        Evaluation.objects.filter(adapter_version=adapter)
        .select_related("dataset_version__dataset")
        .order_by("id")
    )


def datasets(deployment: Deployment) -> list[DatasetUse]:
    """The adapter's training version, and any other version its evaluations used as hold-out."""
    adapter = deployment.adapter_version
    if adapter is None:
        return []
    trained = adapter.dataset_version
    uses = [DatasetUse(dataset=trained.dataset, version=trained, role="training")]
    seen = {trained.pk}
    for evaluation in _adapter_evaluations(adapter):
        version = evaluation.dataset_version
        if version.pk not in seen:
            seen.add(version.pk)
            uses.append(DatasetUse(dataset=version.dataset, version=version, role="hold-out"))
    return uses


def personal_data(deployment: Deployment) -> bool:
    """Weights hold no personal data of their own beyond their datasets' (which the datasets report)."""
    return False


# --- facts -----------------------------------------------------------------------------------------


def facts(deployment: Deployment) -> dict[int, list[Item]]:
    """Sections 2, 3, 4 and 6: base model, adapter, validation, compute, evaluations and lineage."""
    out: dict[int, list[Item]] = {2: _base_model_items(deployment.base_model)}
    adapter = deployment.adapter_version
    if adapter is None:
        out[2].append(fact("Fine-tuning", "none: the base model is deployed without an adapter"))
        return out
    evaluations = _adapter_evaluations(adapter)
    baselines = _baselines(adapter, evaluations)
    out[2] += _adapter_items(adapter)
    out[2] += _validation_items(evaluations, baselines)
    out[2] += _compute_items(adapter)
    out[3] = _capability_items(adapter, evaluations, baselines)
    out[4] = _metric_items(evaluations)
    out[6] = _lineage_items(adapter)
    return out


def _base_model_items(base: BaseModel) -> list[Item]:
    return [
        {"kind": "heading", "label": "Base model"},
        fact("Base model", base.name, required=True),
        fact("Base model weights (sha256 of the weight manifest)", base.manifest_sha256, required=True),
        fact("Base model configuration sha256", base.config_sha256),
        fact("Base model licence", base.licence, required=True),
        fact("Architecture", f"{base.architecture} ({base.model_type})"),
        fact("Parameters", base.parameter_count),
        fact("Maximum sequence length (tokens)", base.max_sequence_length),
    ]


def _adapter_items(adapter: AdapterVersion) -> list[Item]:
    share = adapter.trainable_parameters / adapter.total_parameters if adapter.total_parameters else 0.0
    lora = adapter.lora_config or {}
    hyper = (adapter.lineage or {}).get("hyperparameters") or adapter.job.hyperparameters or {}
    return [
        {"kind": "heading", "label": "Fine-tuning (LoRA adapter)"},
        fact("Adapter", adapter.name, required=True),
        fact("Adapter sha256 (of its file manifest)", adapter.sha256, required=True),
        fact("Adapter size (bytes)", adapter.size_bytes),
        fact(
            "Method",
            "LoRA (low-rank adaptation): the base weights stay frozen, low-rank matrices are trained",
        ),
        fact(
            "Trainable parameters",
            f"{adapter.trainable_parameters} of {adapter.total_parameters} ({share:.4%})",
        ),
        fact("Training seed", adapter.job.seed),
        table(
            "LoRA configuration",
            ["Setting", "Value"],
            [[k, _cell(lora[k])] for k in LORA_KEYS if lora.get(k) not in (None, "", [], {})],
        ),
        table("Hyper-parameters", ["Setting", "Value"], [[k, _cell(hyper[k])] for k in sorted(hyper)]),
    ]


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={value[k]}" for k in sorted(value))
    return _num(value)


def _baselines(adapter: AdapterVersion, evaluations: list[Evaluation]) -> dict[int, Evaluation]:
    """The base model's own evaluation on each hold-out the adapter was evaluated on (newest wins)."""
    versions = {e.dataset_version_id for e in evaluations}
    found: dict[int, Evaluation] = {}
    baselines = Evaluation.objects.filter(
        subject=EvaluationSubject.BASELINE,
        base_model_id=adapter.base_model_id,
        ai_system_id=adapter.ai_system_id,
        dataset_version_id__in=versions,
    ).order_by("id")
    for baseline in baselines:
        # The baseline of the adapter's own job first: it saw exactly the same hold-out samples.
        current = found.get(baseline.dataset_version_id)
        if current is None or current.job_id != adapter.job_id:
            found[baseline.dataset_version_id] = baseline
    return found


def _label(version: DatasetVersion) -> str:
    return f"{version.dataset.name} v{version.number}"


def _validation_items(evaluations: list[Evaluation], baselines: dict[int, Evaluation]) -> list[Item]:
    own = [e for e in evaluations if e.subject == EvaluationSubject.ADAPTER]
    items: list[Item] = [
        {"kind": "heading", "label": "Validation on the hold-out"},
        fact("Hold-out evaluation of the adapter", _summary(own[-1]) if own else None, required=True),
    ]
    for evaluation in own:
        baseline = baselines.get(evaluation.dataset_version_id)
        where = _label(evaluation.dataset_version)
        items.append(
            fact(
                f"Baseline (base model alone) on {where}",
                _summary(baseline) if baseline else None,
                required=True,
            )
        )
        rows = []
        for metric in sorted(evaluation.metrics):
            mine = _num(evaluation.metrics[metric])
            theirs = _num(baseline.metrics.get(metric)) if baseline else None
            delta = (
                _num(float(mine) - float(theirs))
                if isinstance(mine, int | float) and isinstance(theirs, int | float)
                else None
            )
            rows.append([metric, mine, theirs, delta])
        items.append(
            table(
                f"Evaluation {evaluation.pk} on the hold-out of {where} ({evaluation.sample_count} samples)",
                ["Metric", "Adapter", "Baseline", "Difference"],
                rows,
            )
        )
    return items


def _summary(evaluation: Evaluation) -> str:
    result = "passed" if evaluation.passed else "failed"
    score, threshold = _num(evaluation.score), _num(evaluation.threshold)
    return (
        f"{evaluation.primary_metric} {score} against threshold {threshold}: {result} "
        f"({evaluation.sample_count} samples of {_label(evaluation.dataset_version)}, "
        f"evaluation {evaluation.pk})"
    )


def _compute_items(adapter: AdapterVersion) -> list[Item]:
    lineage = adapter.lineage or {}
    hardware = lineage.get("hardware") or {}
    training = lineage.get("training") or {}
    code = lineage.get("code_version") or {}
    items: list[Item] = [
        {"kind": "heading", "label": "Computational resources"},
        fact("Training hardware", hardware.get("device_name"), required=True),
        table(
            "Hardware and software of the training run",
            ["Item", "Value"],
            [[label, _cell(hardware[key])] for key, label in HARDWARE_KEYS if hardware.get(key) is not None],
        ),
        table(
            "Training run",
            ["Item", "Value"],
            [[label, _cell(training[key])] for key, label in TRAINING_KEYS if training.get(key) is not None],
        ),
    ]
    if code:
        items.append(fact("Code version", ", ".join(f"{k}={code[k]}" for k in sorted(code))))
    return items


def _capability_items(
    adapter: AdapterVersion, evaluations: list[Evaluation], baselines: dict[int, Evaluation]
) -> list[Item]:
    own = [e for e in evaluations if e.subject == EvaluationSubject.ADAPTER]
    shown = own + sorted(baselines.values(), key=lambda e: e.pk)
    rows = [
        [
            e.pk,
            "adapter" if e.subject == EvaluationSubject.ADAPTER else "baseline",
            _label(e.dataset_version),
            e.sample_count,
            e.primary_metric,
            _num(e.score),
            _num(e.threshold),
            "passed" if e.passed else "failed",
        ]
        for e in shown
    ]
    hyper = adapter.job.hyperparameters or {}
    items: list[Item] = [
        {"kind": "heading", "label": "Capabilities and limits (hold-out evaluations)"},
        fact("Adapter evaluations passed", f"{sum(e.passed for e in own)} of {len(own)}"),
        table(
            "Evaluations",
            ["Evaluation", "Subject", "Hold-out", "Samples", "Metric", "Score", "Threshold", "Result"],
            rows,
        ),
        fact("Longest input handled (tokens, max_seq_length)", hyper.get("max_seq_length")),
    ]
    if adapter.override_justification:
        items.append(fact("Officer's override of a failed evaluation", adapter.override_justification))
    return items


def _metric_items(evaluations: list[Evaluation]) -> list[Item]:
    names = sorted({name for e in evaluations for name in e.metrics})
    primary = sorted({(e.primary_metric, _num(e.threshold)) for e in evaluations})
    return [
        fact("Metrics computed on the hold-out", ", ".join(names) or None),
        fact("Primary metric and pass threshold", "; ".join(f"{m} >= {t}" for m, t in primary) or None),
    ]


def _lineage_items(adapter: AdapterVersion) -> list[Item]:
    dataset_id = DatasetVersion.objects.filter(pk=adapter.dataset_version_id).values("dataset_id")
    versions = {
        v.pk: v
        for v in DatasetVersion.objects.filter(dataset_id__in=dataset_id)
        .select_related("dataset")
        .order_by("number")
    }
    own = versions[adapter.dataset_version_id]
    family = _family(own.pk, versions)
    version_rows = [
        [
            _label(v),
            v.sha256,
            v.record_count,
            f"v{versions[v.parent_id].number}" if v.parent_id in versions else "",
            v.reason,
            v.erasure_reference or ("content erased" if v.erased_at else ""),
        ]
        for v in sorted((versions[pk] for pk in family), key=lambda v: v.number)
    ]
    adapters = (
        AdapterVersion.objects.filter(ai_system_id=adapter.ai_system_id, dataset_version_id__in=family)
        .select_related("dataset_version__dataset")
        .order_by("id")
    )
    adapter_rows = [
        [a.name, a.job_id, _label(a.dataset_version), a.sha256, a.taint_reason or "not tainted"]
        for a in adapters
    ]
    return [
        {"kind": "heading", "label": "Adapter lineage"},
        fact("Deployed adapter", f"{adapter.name} (sha256 {adapter.sha256})"),
        fact("Fine-tune job", adapter.job_id),
        fact("Trained on", f"{_label(own)} (sha256 {own.sha256})"),
        table(
            "Dataset versions of this lineage (parents and the reasons for each new version)",
            ["Version", "sha256", "Records", "Parent", "Reason", "Erasure"],
            version_rows,
        ),
        table(
            "Adapters of this AI system trained on this lineage (erasure-driven retrains included)",
            ["Adapter", "Job", "Dataset version", "sha256", "Taint"],
            adapter_rows,
        ),
    ]


def _family(pk: int, versions: dict[int, DatasetVersion]) -> set[int]:
    """The version, its ancestors and its descendants (erasure replacements and later versions)."""
    descendants = {pk}
    grew = True
    while grew:
        children = {v.pk for v in versions.values() if v.parent_id in descendants and v.pk not in descendants}
        descendants |= children
        grew = bool(children)
    ancestors: set[int] = set()
    node = versions[pk]
    while node.parent_id in versions and node.parent_id not in ancestors:
        ancestors.add(node.parent_id)
        node = versions[node.parent_id]
    return descendants | ancestors


part = DeploymentPart(
    name="training", validate=validate, datasets=datasets, personal_data=personal_data, facts=facts, order=20
)
