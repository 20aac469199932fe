"""Training throughput of the tiny model through the platform against a bare peft loop, same run.

Platform: a job created through the API and run by the real Celery worker; its training tokens/s is
measured from its "started" event to its last progress event (events, cancel checks and checkpoints
included, start-up and evaluation reported apart). Bare: the same model, LoRA config, examples and
batches in a plain PyTorch + peft loop in this process. Writes bench-results/training.json.

    make bench PYTEST_ARGS="-k training"
    TRAINING_BENCH_EPOCHS=5 TRAINING_BENCH_RECORDS=800 make bench PYTEST_ARGS="-k training"
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

# The worker inherits this environment when it starts: keep its artifacts out of .data/.
_ROOT = Path(tempfile.mkdtemp(prefix="training-bench-"))
os.environ.setdefault("TRAINING_ARTIFACTS_ROOT", str(_ROOT / "artifacts"))
os.environ.setdefault("TRAINING_EVAL_MAX_NEW_TOKENS", "4")
os.environ.setdefault("TRAINING_EVENT_EVERY", "10")
WINDOW = int(os.environ["TRAINING_EVENT_EVERY"])

from governance.choices import DatasetPurpose, LegalBasis  # noqa: E402
from governance.roles import ENGINEER  # noqa: E402
from tests.conftest import wait_for  # noqa: E402
from tests.factories import AISystemFactory, DatasetFactory, UserFactory  # noqa: E402
from tests.training.helpers import corpus_texts, ticket_records, upload_version  # noqa: E402

RESULTS_FILE = Path(__file__).resolve().parents[2] / "bench-results" / "training.json"
EPOCHS = int(os.environ.get("TRAINING_BENCH_EPOCHS", "2"))
REPEATS = int(os.environ.get("TRAINING_BENCH_REPEATS", "3"))
RECORDS = int(os.environ.get("TRAINING_BENCH_RECORDS", "400"))
HYPERPARAMETERS = {
    "rank": 8, "alpha": 16, "dropout": 0.05, "epochs": EPOCHS, "batch_size": 8, "learning_rate": 0.002,
    "max_seq_length": 64, "target_modules": ["q_proj", "v_proj"],
}  # fmt: skip


def _bare_peft_loop(model_path: str, examples: list[Any], seed: int) -> dict[str, float]:
    """The same training with nothing around it: no database, events, checkpoints or cancel checks."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, get_linear_schedule_with_warmup

    from training.trainer.loop import collate, step_examples, steps_per_epoch

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_path, local_files_only=True, dtype=torch.float32)
    config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"],
                        task_type="CAUSAL_LM")  # fmt: skip
    model = get_peft_model(model, config)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=HYPERPARAMETERS["learning_rate"], weight_decay=0.0)
    hp = {**HYPERPARAMETERS, "gradient_accumulation": 1}
    total = EPOCHS * steps_per_epoch(len(examples), hp)
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, total)
    tokens, windows, window_tokens = 0, [], 0
    started = window_start = time.perf_counter()
    for step in range(total):
        batch = collate(step_examples(examples, step, hp, seed), 0, torch.device("cpu"))
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
        window_tokens += int(batch["attention_mask"].sum())
        if (step + 1) % WINDOW == 0:  # the platform's progress events cover the same 10-step windows
            windows.append(window_tokens / (time.perf_counter() - window_start))
            window_tokens, window_start = 0, time.perf_counter()
    seconds = time.perf_counter() - started
    return {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds, "steps": total,
            "median_window_tokens_per_s": statistics.median(windows)}  # fmt: skip


def _platform_run(api: Any, engineer: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """One job through the API and the worker; training tokens/s from its own events."""
    from training.models import FineTuneJob

    created = time.perf_counter()
    response = api(engineer).post("/api/v1/fine-tune-jobs/", payload, format="json")
    assert response.status_code == 201, response.content
    job = wait_for(
        lambda: FineTuneJob.objects.filter(
            pk=response.json()["id"], status__in=["succeeded", "failed"]
        ).first(),
        timeout=1800,
    )
    finished = time.perf_counter()
    assert job.status == "succeeded", job.error
    events = {e.kind: e for e in job.events.order_by("id")}  # the last event of each kind
    windows = [e.tokens_per_s for e in job.events.filter(kind="progress").order_by("id")]
    started_at, last_progress = events["started"].created_at, events["progress"].created_at
    train_wall = (last_progress - started_at).total_seconds()
    return {
        "job": job.pk,
        "tokens": job.train_tokens,
        "steps": job.total_steps,
        "train_wall_s": round(train_wall, 3),
        "tokens_per_s": round(job.train_tokens / train_wall, 1),
        "median_window_tokens_per_s": round(statistics.median(windows[:-1] or windows), 1),
        "step_compute_s": round(job.train_seconds, 3),
        # Wall time of the loop spent outside the steps' own computation: events, cancel checks, checkpoints.
        "outside_steps_fraction": round(1 - job.train_seconds / train_wall, 4),
        "startup_s": round((started_at - job.created_at).total_seconds(), 3),
        "startup_in_worker_s": round(job.startup_seconds or 0.0, 3),
        "evaluation_s": round((job.finished_at - last_progress).total_seconds(), 3),
        "end_to_end_s": round(finished - created, 3),
    }


@pytest.mark.django_db(transaction=True)
def test_training_throughput_through_the_platform_against_a_bare_peft_loop(
    api: Any, celery_worker: Any
) -> None:
    from training.demo import build_demo_model
    from training.services import base_models
    from training.trainer.data import build_examples, load_tokenizer

    engineer = UserFactory(username="bench-engineer", role=ENGINEER)
    system = AISystemFactory(owner=engineer)
    dataset = DatasetFactory(owner=engineer, purpose=DatasetPurpose.TRAINING,
                             legal_basis=LegalBasis.LEGITIMATE_INTERESTS)  # fmt: skip
    dataset.ai_systems.add(system)  # the `dataset_not_linked` gate: a job trains on its system's data
    version = upload_version(dataset, ticket_records(RECORDS, seed=5), actor=engineer)
    model_dir = build_demo_model(_ROOT / "tiny", extra_texts=corpus_texts())
    base = base_models.base_model_register(actor=engineer, name="bench-tiny", path=str(model_dir))
    base = base_models.base_model_compute_manifest(base_model_id=base.pk)
    tokenizer = load_tokenizer(str(model_dir))
    examples, _ = build_examples(tokenizer, version, max_seq_length=HYPERPARAMETERS["max_seq_length"])
    payload = {"ai_system": system.pk, "base_model": base.pk, "dataset_version": version.pk, "seed": 17,
               "hyperparameters": HYPERPARAMETERS}  # fmt: skip

    # Alternate the two and keep the best of each: on a shared machine other processes steal cycles
    # at random, and the fastest run is the one they disturbed least.
    platform_runs, bare_runs = [], []
    for _ in range(REPEATS):
        bare_runs.append(
            {k: round(v, 3) for k, v in _bare_peft_loop(str(model_dir), examples, seed=17).items()}
        )
        platform_runs.append(_platform_run(api, engineer, payload))
    platform = max(platform_runs, key=lambda r: r["tokens_per_s"])
    bare = max(bare_runs, key=lambda r: r["tokens_per_s"])
    ratio = platform["tokens_per_s"] / bare["tokens_per_s"]
    # Medians over 10-step windows of every run resist the bursts of load a shared machine has.
    median_platform = statistics.median(r["median_window_tokens_per_s"] for r in platform_runs)
    median_bare = statistics.median(r["median_window_tokens_per_s"] for r in bare_runs)
    median_ratio = median_platform / median_bare * (1 - platform["outside_steps_fraction"])
    run = {
        "when": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "device": "cpu", "cpus": os.cpu_count(), "records": RECORDS, "train_examples": len(examples),
        "hyperparameters": HYPERPARAMETERS, "parameters": base.parameter_count, "repeats": REPEATS,
        "platform": platform, "bare_peft_loop": bare,
        "platform_runs": platform_runs, "bare_runs": bare_runs,
        "platform_over_bare": round(ratio, 3), "target": 0.9,
        "platform_over_bare_median_windows": round(median_ratio, 3),
    }  # fmt: skip
    size = f"{base.parameter_count / 1e6:.1f}M"
    print(f"\nLoRA training of a {size}-parameter model, {len(examples)} examples, "
          f"{EPOCHS} epochs, {platform['steps']} steps of batch 8 (CPU, {os.cpu_count()} cores), "
          f"best of {REPEATS}:")  # fmt: skip
    print(
        f"  platform (API + Celery worker): {platform['tokens_per_s']:>9.1f} tokens/s  (training loop only)"
    )
    print(f"  bare peft loop (same process):  {bare['tokens_per_s']:>9.1f} tokens/s")
    print(f"  ratio platform / bare:          {ratio:9.3f}  (target >= 0.9)")
    print(f"  median of 10-step windows:      {median_platform:9.1f} vs {median_bare:.1f} tokens/s -> ratio "
          f"{median_ratio:.3f} (after the platform's time outside steps)")  # fmt: skip
    print(f"  platform loop time outside step computation (events, cancel checks, checkpoints): "
          f"{platform['outside_steps_fraction']:.1%}")  # fmt: skip
    print(f"  all runs, tokens/s: platform {[r['tokens_per_s'] for r in platform_runs]}, "
          f"bare {[round(r['tokens_per_s'], 1) for r in bare_runs]}")  # fmt: skip
    print(f"  start-up (created -> first step): {platform['startup_s']} s, of which in the worker "
          f"{platform['startup_in_worker_s']} s; evaluation {platform['evaluation_s']} s; "
          f"end to end {platform['end_to_end_s']} s")  # fmt: skip
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else []
    history.append(run)
    RESULTS_FILE.write_text(json.dumps(history, indent=2) + "\n")
    assert all(r["tokens"] == bare["tokens"] for r in platform_runs)  # the same data went through both
