"""Fixtures for answers: a trained adapter, a collection with indexed tickets, an active deployment.

`active_deployment` is made active directly (its gates are governance's tests); the end-to-end test
walks the gates and the approvals through the API instead.
"""

# ruff: noqa: F811 - the training fixtures imported below are parameters of these fixtures
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest

from answers.backends import local, openai_compatible
from governance.choices import DeploymentStatus
from governance.models import Deployment
from retrieval.models import Collection
from retrieval.services import collections
from tests.conftest import fresh_fixture
from tests.retrieval.conftest import doc, ingest_now
from tests.training.conftest import (  # noqa: F401 - fixtures
    _clear_hooks,
    _training_settings,
    adapter,
    ai_system,
    approved_dpia,
    base_model,
    demo_model_dir,
    make_version,
    trained_job,
    version,
)

KNOWLEDGE = [
    ("refunds", "Refunds are paid back to the original card within 14 days of the return arriving."),
    ("delivery", "Parcels ship from the Warsaw warehouse and arrive in two to four working days."),
    ("password", "To reset a password, open Settings, choose Security and press Reset password."),
]


@pytest.fixture(autouse=True)
def _fresh_backends() -> Any:
    openai_compatible.reset_breakers()
    yield
    openai_compatible.reset_breakers()


@pytest.fixture
def knowledge(engineer: Any, ai_system: Any) -> Collection:
    return index_knowledge(engineer, ai_system)


def index_knowledge(engineer: Any, ai_system: Any) -> Collection:
    collection = collections.collection_create(
        actor=engineer, ai_system=ai_system, name="Help centre", chunk_size=200, chunk_overlap=20
    )
    ingest_now(engineer, collection, [doc(key, text, title=key.title()) for key, text in KNOWLEDGE])
    return collection


@pytest.fixture
def make_deployment(
    engineer: Any, ai_system: Any, base_model: Any, adapter: Any, knowledge: Collection
) -> Callable[..., Deployment]:
    def make(**fields: Any) -> Deployment:
        values = {
            "ai_system": ai_system,
            "base_model": base_model,
            "adapter_version": adapter,
            "collection": knowledge,
            "environment": "staging",
            "requested_by": engineer,
            "status": DeploymentStatus.ACTIVE,
            **fields,
        }
        return Deployment.objects.create(**values)

    return make


@pytest.fixture
def active_deployment(make_deployment: Callable[..., Deployment]) -> Deployment:
    return make_deployment()


@pytest.fixture(autouse=True)
def _unload_models() -> Any:
    yield
    local.unload_all()


@dataclass(frozen=True)
class TrainedWorld:
    """The rows behind `active_deployment`, for a module that builds them once (tests.conftest.built_once)."""

    engineer: Any
    ai_system: Any
    base_model: Any
    version: Any
    trained_job: Any
    knowledge: Collection


def trained_world(demo_model_dir: Path) -> TrainedWorld:
    """A trained job (with its hold-out evaluations), its scanned dataset version and an indexed collection.

    The rows the fixtures of the same names make (tests/training/conftest.py and above), made through
    the services; they cost several times what one answers test does.
    """
    from governance.roles import ENGINEER
    from tests.factories import UserFactory
    from tests.training.conftest import new_ai_system, new_version, register_base_model, train_job

    engineer = UserFactory(username="engineer", role=ENGINEER)
    system = new_ai_system(engineer)
    base_model = register_base_model(engineer, demo_model_dir)
    version = new_version(engineer, system)
    job = train_job(engineer, system, base_model, version)
    return TrainedWorld(engineer, system, base_model, version, job, index_knowledge(engineer, system))


def trained_world_fixtures() -> tuple[Any, ...]:
    """Test-scoped fixtures named after TrainedWorld's fields, each reading `_shared.<field>` again."""
    return tuple(fresh_fixture(field.name) for field in fields(TrainedWorld))
