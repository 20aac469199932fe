"""Requesting a deployment from the admin: the answer backend's settings, refused like the API refuses."""

# ruff: noqa: F811 - the training fixtures imported below are parameters of the tests
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from governance.models import AuditEvent, Deployment
from tests.factories import AISystemFactory
from tests.training.conftest import base_model, demo_model_dir  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def _form(system: Any, base: Any, **fields: Any) -> dict[str, Any]:
    return {
        "ai_system": system.pk,
        "base_model": base.pk,
        "environment": "staging",
        "notes": "",
        "answer_backend": "local",
        "inference_url": "",
        "inference_model": "",
        "requires_grounding": "on",
        **fields,
    }


def test_an_openai_compatible_request_without_a_server_url_is_refused_on_the_form(
    engineer: Any, base_model: Any
) -> None:
    client = Client()
    client.force_login(engineer)
    system = AISystemFactory(owner=engineer)
    response = client.post(
        "/admin/governance/deployment/add/", _form(system, base_model, answer_backend="openai_compatible")
    )
    assert response.status_code == 200  # the form again, with the error
    assert "needs the inference server" in response.content.decode()
    assert not Deployment.objects.exists()


def test_an_engineer_requests_an_openai_compatible_deployment_from_the_admin(
    engineer: Any, base_model: Any
) -> None:
    client = Client()
    client.force_login(engineer)
    system = AISystemFactory(owner=engineer)
    fields = {
        "answer_backend": "openai_compatible",
        "inference_url": "http://vllm:8000",
        "inference_model": "a-7",
    }
    response = client.post("/admin/governance/deployment/add/", _form(system, base_model, **fields))
    assert response.status_code == 302
    deployment = Deployment.objects.get()
    assert (deployment.answer_backend, deployment.inference_url, deployment.inference_model) == (
        "openai_compatible",
        "http://vllm:8000",
        "a-7",
    )
    assert deployment.requires_grounding is True and deployment.requested_by == engineer
    assert AuditEvent.objects.filter(action="deployment.requested", object_id=str(deployment.pk)).count() == 1


def test_the_api_refuses_an_openai_compatible_request_without_a_url(
    api: Any, engineer: Any, base_model: Any
) -> None:
    system = AISystemFactory(owner=engineer)
    response = api(engineer).post(
        "/api/v1/deployments/",
        {
            "ai_system": system.pk,
            "base_model": base_model.pk,
            "environment": "staging",
            "answer_backend": "openai_compatible",
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "inference_url_required"
    assert not Deployment.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://vllm:8000",
        "http://user:secret@vllm:8000",
        "http://vllm:8000/?x=1",
        "vllm:8000",
        "http://vllm:99999",
    ],
)
def test_an_inference_url_with_credentials_or_no_http_host_is_refused(
    api: Any, engineer: Any, base_model: Any, url: str
) -> None:
    system = AISystemFactory(owner=engineer)
    response = api(engineer).post(
        "/api/v1/deployments/",
        {
            "ai_system": system.pk, "base_model": base_model.pk, "environment": "staging",
            "answer_backend": "openai_compatible", "inference_url": url,
        },
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_inference_url"
    assert "secret" not in response.content.decode()
