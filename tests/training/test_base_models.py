"""Registering local base models: facts from config.json, a sha256 manifest computed by a task."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from governance.models import AuditEvent
from tests.conftest import wait_for
from training.models import BaseModel

URL = "/api/v1/base-models/"


@pytest.mark.django_db
def test_registering_reads_architecture_size_and_context_without_loading_weights(
    api, engineer, demo_model_dir
):
    from transformers import AutoModelForCausalLM

    response = api(engineer).post(
        URL, {"name": "tiny", "path": str(demo_model_dir), "licence": "MIT"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    real = AutoModelForCausalLM.from_pretrained(demo_model_dir, local_files_only=True)
    assert body["architecture"] == "LlamaForCausalLM"
    assert body["parameter_count"] == sum(p.numel() for p in real.parameters())
    assert body["max_sequence_length"] == 512
    assert {"q_proj", "k_proj", "v_proj", "o_proj"} <= set(body["module_names"])
    assert body["status"] == "pending"
    assert AuditEvent.objects.filter(action="base_model.registered").count() == 1


@pytest.mark.django_db
def test_the_manifest_holds_the_sha256_of_every_weight_file(engineer, base_model, demo_model_dir):
    weights = demo_model_dir / "model.safetensors"
    assert base_model.status == "ready"
    assert (
        base_model.manifest["model.safetensors"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    )
    assert base_model.size_bytes == sum(f.stat().st_size for f in demo_model_dir.iterdir() if f.is_file())
    assert len(base_model.manifest_sha256) == 64


@pytest.mark.django_db
def test_a_path_that_does_not_exist_is_refused(api, engineer, tmp_path):
    response = api(engineer).post(URL, {"name": "x", "path": str(tmp_path / "nope")}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "base_model_path_unusable"
    assert not BaseModel.objects.exists()


@pytest.mark.django_db
def test_a_directory_that_is_not_a_model_is_refused(api, engineer, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    response = api(engineer).post(URL, {"name": "x", "path": str(tmp_path)}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "base_model_not_a_model"
    assert not BaseModel.objects.exists()


@pytest.mark.django_db
def test_an_unreadable_config_is_refused(api, engineer, tmp_path, demo_model_dir):
    target = tmp_path / "broken"
    shutil.copytree(demo_model_dir, target)
    (target / "config.json").write_text('{"model_type": "no-such-architecture"')
    response = api(engineer).post(URL, {"name": "x", "path": str(target)}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "base_model_config_unreadable"


@pytest.mark.django_db
def test_a_relative_path_is_refused(api, engineer):
    response = api(engineer).post(URL, {"name": "x", "path": "models/tiny"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "base_model_path_not_absolute"


@pytest.mark.django_db
def test_a_second_model_with_the_same_name_is_a_conflict(api, engineer, base_model, demo_model_dir):
    response = api(engineer).post(URL, {"name": base_model.name, "path": str(demo_model_dir)}, format="json")
    assert response.status_code == 409
    assert BaseModel.objects.count() == 1


@pytest.mark.django_db
def test_a_path_outside_the_allowed_roots_is_refused(api, engineer, demo_model_dir, settings, tmp_path):
    settings.TRAINING_BASE_MODEL_ROOTS = str(tmp_path)
    response = api(engineer).post(URL, {"name": "x", "path": str(demo_model_dir)}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "base_model_path_unusable"


@pytest.mark.django_db
def test_outside_the_roots_missing_and_not_a_directory_give_byte_identical_errors(
    api, engineer, demo_model_dir, settings, tmp_path
):
    root = tmp_path / "models"
    root.mkdir()
    (root / "weights.bin").write_bytes(b"x")
    settings.TRAINING_BASE_MODEL_ROOTS = str(root)
    client = api(engineer)

    bodies = [
        client.post(URL, {"name": "x", "path": path}, format="json")
        for path in (str(demo_model_dir), str(root / "nope"), str(root / "weights.bin"))
    ]

    assert [response.status_code for response in bodies] == [400, 400, 400]
    assert bodies[0].content == bodies[1].content == bodies[2].content
    assert bodies[0].json()["error"]["code"] == "base_model_path_unusable"
    assert not BaseModel.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_the_worker_computes_the_manifest_after_registration(api, engineer, demo_model_dir, celery_worker):
    body = api(engineer).post(URL, {"name": "tiny-w", "path": str(demo_model_dir)}, format="json").json()
    model = wait_for(lambda: BaseModel.objects.filter(pk=body["id"], status="ready").first(), timeout=120)
    assert set(model.manifest) >= {"config.json", "model.safetensors", "tokenizer.json"}


def test_the_demo_command_builds_a_model_with_a_chat_template(tmp_path: Path):
    from django.core.management import call_command

    from training.trainer.data import load_tokenizer

    call_command("create_demo_base_model", "--path", str(tmp_path / "demo"))
    tokenizer = load_tokenizer(str(tmp_path / "demo"))
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|assistant|>\n")
    assert (tmp_path / "demo" / "model.safetensors").is_file()
    assert tokenizer.pad_token and tokenizer.eos_token


@pytest.mark.django_db
def test_the_demo_command_can_register_the_model_with_its_manifest(tmp_path: Path):
    from django.core.management import call_command

    call_command("create_demo_base_model", "--name", "demo", "--path", str(tmp_path / "demo"), "--register")
    model = BaseModel.objects.get(name="demo")
    assert (model.status, model.architecture) == ("ready", "LlamaForCausalLM")
    assert 1_000_000 < model.parameter_count < 5_000_000


@pytest.mark.django_db
def test_an_officer_taints_a_base_model_and_a_job_on_it_is_then_refused(
    api, officer, engineer, base_model, job_payload
):
    response = api(officer).post(
        f"{URL}{base_model.pk}/taint/", {"reason": "licence withdrawn"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["id"] == base_model.pk
    assert response.json()["taint_reason"] == "licence withdrawn"
    event = AuditEvent.objects.get(action="base_model.tainted")
    assert (event.actor, event.object_id) == (officer.username, str(base_model.pk))
    refused = api(engineer).post("/api/v1/fine-tune-jobs/", job_payload, format="json")
    assert refused.status_code == 409, refused.content
    assert refused.json()["error"]["code"] == "gates_failed"
    assert [d["gate"] for d in refused.json()["error"]["details"]] == ["tainted_base_model"]


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "expected"), [("engineer", 403), ("auditor", 403), (None, 401)])
def test_only_an_officer_taints_a_base_model(request, api, base_model, role, expected):
    user = request.getfixturevalue(role) if role else None

    response = api(user).post(f"{URL}{base_model.pk}/taint/", {"reason": "licence withdrawn"}, format="json")

    assert response.status_code == expected, response.content
    code = "forbidden" if expected == 403 else "not_authenticated"
    assert response.json()["error"]["code"] == code
    base_model.refresh_from_db()
    assert base_model.taint_reason == ""
    assert not AuditEvent.objects.filter(action="base_model.tainted").exists()


@pytest.mark.django_db
def test_a_base_model_taint_needs_a_reason(api, officer, base_model):
    response = api(officer).post(f"{URL}{base_model.pk}/taint/", {"reason": "   "}, format="json")

    assert response.status_code == 400, response.content
    base_model.refresh_from_db()
    assert base_model.taint_reason == ""


@pytest.mark.django_db
def test_the_base_model_taint_service_refuses_a_blank_reason(officer, base_model):
    from governance.errors import Conflict
    from training.services.base_models import base_model_taint

    with pytest.raises(Conflict) as refused:
        base_model_taint(actor=officer, base_model=base_model, reason="  ")

    assert refused.value.code == "taint_reason_required"
    base_model.refresh_from_db()
    assert base_model.taint_reason == ""
