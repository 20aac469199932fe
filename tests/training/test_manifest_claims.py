"""Base-model manifests under the claim primitive: a live hasher is left alone, a dead one replaced."""

from __future__ import annotations

import socket

import pytest
from django.utils import timezone

from tests.conftest import dead_pid
from training import tasks
from training.models import BaseModel
from training.services import base_models

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered(engineer, demo_model_dir) -> BaseModel:
    return base_models.base_model_register(actor=engineer, name="tiny", path=str(demo_model_dir))


def _held(model: BaseModel, *, pid: int, attempts: int = 1) -> None:
    BaseModel.objects.filter(pk=model.pk).update(
        attempts=attempts, worker_host=socket.gethostname(), worker_pid=pid, heartbeat_at=timezone.now()
    )


def test_a_duplicate_manifest_delivery_while_the_first_is_alive_stands_down(registered, live_pid):
    _held(registered, pid=live_pid)
    tasks.compute_base_model_manifest(registered.pk)
    model = BaseModel.objects.get(pk=registered.pk)
    assert (model.status, model.attempts, model.manifest) == ("pending", 1, {})


def test_a_manifest_delivery_after_its_owner_died_hashes_the_weights(registered):
    _held(registered, pid=dead_pid())
    tasks.compute_base_model_manifest(registered.pk)
    model = BaseModel.objects.get(pk=registered.pk)
    assert (model.status, model.attempts) == ("ready", 2)
    assert "config.json" in model.manifest


def test_a_manifest_that_kills_its_worker_every_time_fails_after_the_attempts_cap(registered, settings):
    settings.CLAIM_MAX_ATTEMPTS = 3
    _held(registered, pid=dead_pid(), attempts=3)
    tasks.compute_base_model_manifest(registered.pk)
    model = BaseModel.objects.get(pk=registered.pk)
    assert model.status == "failed"
    assert model.manifest_error.startswith("worker_lost: the worker stopped during each of 3 attempts")
