"""The answer path with the local backend and the tiny demo model: cited answers, hand-offs, records."""

# ruff: noqa: F811 - fixtures imported by name
from __future__ import annotations

from typing import Any

import pytest

from answers.models import AnswerRecord
from tests.answers.conftest import (  # noqa: F401 - fixtures
    active_deployment,
    adapter,
    ai_system,
    approved_dpia,
    base_model,
    demo_model_dir,
    knowledge,
    make_deployment,
    make_version,
    trained_job,
    version,
)

pytestmark = pytest.mark.django_db


def test_an_active_deployment_answers_with_citations_and_records_it(
    api: Any, engineer: Any, active_deployment: Any
) -> None:
    response = api(engineer).post(
        f"/api/v1/deployments/{active_deployment.pk}/answer/",
        {"question": "How long do refunds take to reach my card?", "k": 3, "max_new_tokens": 8},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["handoff"] is False
    assert body["citations"] and body["citations"][0]["citation"]["external_id"] == "refunds"
    assert {"retrieval_ms", "prompt_ms", "generation_ms", "total_ms"} <= set(body["timings"])
    record = AnswerRecord.objects.get(pk=body["id"])
    assert record.adapter_version_id == active_deployment.adapter_version_id
    assert record.chunks[0]["chunk_id"] == body["citations"][0]["chunk_id"]
    assert record.prompt_template_version == 0 and len(record.prompt_template_sha256) == 64
    assert record.tokens_generated == body["tokens_generated"] > 0
