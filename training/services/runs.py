"""The worker's side of a job: train (or resume), write the adapter, evaluate, finish.

Nothing here holds a database transaction while a model runs: progress goes out as single
autocommitted statements and each state change is its own short transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from governance.models import DatasetRecord
from governance.services.datasets import dataset_version_path
from training import conf
from training.choices import EvaluationSubject, JobStatus
from training.modelinfo import file_sha256
from training.models import AdapterVersion, FineTuneJob
from training.services import adapters, evaluations, jobs
from training.trainer import evaluate, loop
from training.trainer.data import DataError, build_examples, load_tokenizer
from training.trainer.metrics import compute_metrics
from training.trainer.runtime import Runtime, code_version, hardware, select_runtime

logger = logging.getLogger(__name__)


class TrainingError(Exception):
    """A job cannot go on; the message is safe to store (it never quotes a record)."""


class JobReporter:
    """The loop's window on the job row: events, progress, the cancel flag and test-only hooks."""

    def __init__(self, job: FineTuneJob, started: float) -> None:
        self.job_id, self.started_at = job.pk, started
        self.hooks = _test_hooks(job.pk)
        self.cancel_check_s = conf.cancel_check_s()
        self.last_check = 0.0

    def started(self, *, total_steps: int, examples: int, resumed_from: int | None) -> None:
        jobs.fine_tune_job_heartbeat(
            self.job_id,
            status=JobStatus.RUNNING,
            total_steps=total_steps,
            current_step=resumed_from or 0,
            startup_seconds=time.monotonic() - self.started_at,
        )
        if resumed_from is not None:
            jobs.job_event(self.job_id, "resumed", f"resumed from step {resumed_from}", step=resumed_from)
        else:
            jobs.job_event(
                self.job_id, "started", f"training on {examples} examples for {total_steps} steps", step=0
            )

    def progress(
        self,
        *,
        step: int,
        total_steps: int,
        loss: float,
        learning_rate: float,
        tokens_per_s: float,
        tokens: int,
        seconds: float,
    ) -> None:
        jobs.job_event(
            self.job_id,
            "progress",
            "",
            step=step,
            loss=loss,
            learning_rate=learning_rate,
            tokens_per_s=tokens_per_s,
        )
        jobs.fine_tune_job_heartbeat(
            self.job_id,
            current_step=step,
            progress=round(step / total_steps, 4),
            train_tokens=tokens,
            train_seconds=seconds,
        )

    def checkpointed(self, *, step: int) -> None:
        jobs.job_event(self.job_id, "checkpoint", f"checkpoint saved at step {step}", step=step)

    def cancelled(self) -> bool:
        # Between every step, but at most once a second: a tiny model's steps take milliseconds and a
        # query per step would cost it several per cent of its throughput.
        now = time.monotonic()
        if now - self.last_check < self.cancel_check_s:
            return False
        self.last_check = now
        return jobs.fine_tune_job_is_cancelled(self.job_id)

    def before_step(self, step: int) -> None:
        if not self.hooks:
            return
        if self.hooks.get("sleep_per_step"):
            time.sleep(float(self.hooks["sleep_per_step"]))
        if self.hooks.get("kill_at_step") == step:
            os.kill(os.getpid(), signal.SIGKILL)


def _test_hooks(job_id: int) -> dict[str, Any]:
    """Test-only: TRAINING_TEST_HOOKS_DIR is set in the test suite's worker and nowhere else."""
    directory = conf.test_hooks_dir()
    if directory is None:
        return {}
    path = directory / f"job-{job_id}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def job_dirs(job_id: int) -> tuple[Path, Path]:
    """(checkpoint directory, adapter directory) of a job under the artifacts root."""
    root = conf.artifacts_root()
    return root / "checkpoints" / f"job-{job_id}", root / "adapters" / f"job-{job_id}"


def fine_tune_job_run(*, job_id: int) -> None:
    """Train (or resume), write the one adapter, evaluate it and the baseline, then finish the job."""
    started = time.monotonic()
    job = FineTuneJob.objects.select_related("base_model", "dataset_version", "ai_system").get(pk=job_id)
    try:
        if not jobs.fine_tune_job_check_gates_at_claim(job_id=job_id):
            return  # the gates closed while the job was queued: it is failed and audited, nothing trains
        runtime = select_runtime()
        FineTuneJob.objects.filter(pk=job_id).update(device=str(runtime.device))
        tokenizer = load_tokenizer(job.base_model.path)
        adapter = AdapterVersion.objects.filter(job=job).first()
        model = None
        if adapter is not None:
            # An earlier attempt recorded the adapter and died while evaluating: evaluate again.
            jobs.fine_tune_job_heartbeat(job_id, status=JobStatus.RUNNING)
        else:
            outcome = _train(job, tokenizer, runtime, JobReporter(job, started))
            if outcome is None:
                jobs.job_event(job_id, "stopped", "training stopped: the job was cancelled")
                return
            adapter, model = outcome
            if adapter is None:
                return  # cancelled between the last step and the adapter row
        _evaluate(job, adapter, tokenizer, runtime, model)
        jobs.fine_tune_job_succeed(job_id=job_id)
    except (TrainingError, DataError) as exc:
        jobs.fine_tune_job_fail(job_id=job_id, error=str(exc))
    except SoftTimeLimitExceeded:
        jobs.fine_tune_job_fail(
            job_id=job_id, error="the job ran past its time limit (TRAINING_TASK_TIME_LIMIT)"
        )
    except Exception as exc:
        logger.exception("fine-tune job %s failed", job_id)
        # Only the class (and CUDA's out-of-memory hint): a message could quote a record.
        hint = " (CUDA out of memory)" if "out of memory" in str(exc).lower() else ""
        jobs.fine_tune_job_fail(job_id=job_id, error=f"{type(exc).__name__}{hint}; see the worker log")


def _train(
    job: FineTuneJob, tokenizer: Any, runtime: Runtime, reporter: JobReporter
) -> tuple[AdapterVersion | None, Any] | None:
    hp = job.hyperparameters
    if hp.get("use_qlora") and not runtime.is_cuda:
        raise TrainingError("QLoRA was requested but this worker has no CUDA device")
    version = job.dataset_version
    if file_sha256(dataset_version_path(version)) != version.sha256:
        raise TrainingError(f"the file of dataset version {version.pk} does not match its recorded sha256")
    work_dir, output_dir = job_dirs(job.pk)
    manifest = loop.read_manifest(output_dir)
    model = None
    if manifest is not None:
        jobs.fine_tune_job_heartbeat(job.pk, status=JobStatus.RUNNING)
        jobs.job_event(job.pk, "resumed", "adapter files complete from an earlier attempt; recording them")
    else:
        examples, too_long = build_examples(tokenizer, version, max_seq_length=hp["max_seq_length"])
        if not examples:
            raise TrainingError(f"all {too_long} train records are longer than max_seq_length")
        if too_long:
            jobs.job_event(
                job.pk,
                "skipped",
                f"{too_long} train records longer than max_seq_length skipped",
                level="warning",
            )
        spec = loop.TrainSpec(
            model_path=job.base_model.path,
            hyperparameters=hp,
            seed=job.seed,
            work_dir=work_dir,
            output_dir=output_dir,
            event_every=conf.event_every(),
            checkpoint_every=conf.checkpoint_every(),
            extra_manifest={
                "job": job.pk,
                "dataset_version": version.pk,
                "dataset_sha256": version.sha256,
                "skipped_too_long": too_long,
            },
        )
        result = loop.train(spec, examples, tokenizer, runtime, reporter)
        if result is None:
            return None
        model = result.model
        manifest = loop.read_manifest(output_dir)
        assert manifest is not None
    adapter = adapters.adapter_version_create_for_job(
        job_id=job.pk, output_dir=output_dir, manifest=manifest, lineage=_lineage(job, manifest, runtime)
    )
    if adapter is not None:
        jobs.job_event(job.pk, "adapter", f"adapter version {adapter.pk} written ({adapter.sha256[:12]})")
    return adapter, model


def _lineage(job: FineTuneJob, manifest: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    version, base = job.dataset_version, job.base_model
    hashes = manifest["trained_record_sha256"]
    return {
        "job": job.pk,
        "ai_system": job.ai_system_id,
        "base_model": {
            "id": base.pk,
            "name": base.name,
            "architecture": base.architecture,
            "manifest_sha256": base.manifest_sha256,
            "config_sha256": base.config_sha256,
        },
        "dataset_version": {
            "id": version.pk,
            "dataset": version.dataset_id,
            "number": version.number,
            "sha256": version.sha256,
            "split_seed": version.split_seed,
        },
        "hyperparameters": job.hyperparameters,
        "seed": job.seed,
        "training": {
            "steps": manifest["steps"],
            "tokens": manifest["tokens"],
            "seconds": manifest["train_seconds"],
            "final_loss": manifest["final_loss"],
            "trained_records": manifest["trained_record_count"],
            "skipped_too_long": manifest["skipped_too_long"],
            "trained_records_sha256": _digest(hashes),
            "attempts": job.attempts,
        },
        "code_version": code_version(),
        "hardware": hardware(runtime),
    }


def _digest(hashes: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()


def _evaluate(
    job: FineTuneJob, adapter: AdapterVersion, tokenizer: Any, runtime: Runtime, model: Any
) -> None:
    done = set(job.evaluations.values_list("subject", flat=True))
    if {EvaluationSubject.ADAPTER, EvaluationSubject.BASELINE} <= done:
        return
    hp = job.hyperparameters
    holdout = evaluate.holdout_set(
        tokenizer, job.dataset_version, max_prompt=hp["max_seq_length"], limit=conf.eval_max_samples()
    )
    if not holdout.prompts:
        jobs.job_event(
            job.pk, "evaluation", "no hold-out record fits max_seq_length: nothing evaluated", level="warning"
        )
        return
    if model is None:
        model = _load_adapter(job, adapter, runtime)
    labels = _all_outputs(job)
    beat = lambda: jobs.fine_tune_job_heartbeat(job.pk)  # noqa: E731 - keeps a long evaluation visibly alive
    max_new = conf.eval_max_new_tokens()
    for subject in (EvaluationSubject.ADAPTER, EvaluationSubject.BASELINE):
        if subject in done:
            continue
        if subject == EvaluationSubject.ADAPTER:
            answers = evaluate.generate(
                model, tokenizer, holdout.prompts, runtime, max_new_tokens=max_new, on_batch=beat
            )
        else:
            with model.disable_adapter():  # the untouched base model: the baseline
                answers = evaluate.generate(
                    model, tokenizer, holdout.prompts, runtime, max_new_tokens=max_new, on_batch=beat
                )
        metrics = compute_metrics(answers, holdout.references, label_references=labels)
        row = evaluations.evaluation_record_for_job(
            job=job, adapter=adapter, subject=subject, metrics=metrics, sample_count=len(holdout.prompts)
        )
        jobs.job_event(
            job.pk,
            "evaluation",
            f"{subject}: {row.primary_metric}={row.score:.3f} "
            f"(threshold {row.threshold:.2f}, {'passed' if row.passed else 'not passed'})",
        )


def _load_adapter(job: FineTuneJob, adapter: AdapterVersion, runtime: Runtime) -> Any:
    from peft import PeftModel

    base = loop.load_base_model(
        job.base_model.path, runtime, qlora=job.hyperparameters.get("use_qlora", False)
    )
    return PeftModel.from_pretrained(base, adapter.path, is_trainable=False)


def _all_outputs(job: FineTuneJob) -> list[str]:
    """Every reference output of the version (both splits): decides whether outputs are labels."""
    from training.trainer.data import messages_of

    path = dataset_version_path(job.dataset_version)
    outputs = []
    offsets = DatasetRecord.objects.filter(version=job.dataset_version).values_list("byte_offset", flat=True)
    with path.open("rb") as handle:
        for offset in offsets.iterator(chunk_size=5000):
            handle.seek(offset)
            outputs.append(messages_of(json.loads(handle.readline()))[-1]["content"])
            if len(outputs) > 100_000:
                break  # enough to tell labels from free text
    return outputs
