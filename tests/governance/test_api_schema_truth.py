"""The OpenAPI schema says what the API does: nullability, closed bodies, filter rules, error statuses."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    from django.test import Client

    with django_db_blocker.unblock():
        return yaml.safe_load(Client().get("/api/schema/").content)


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ("DPIAOut", "reviewer"),
        ("DPIAOut", "created_by"),
        ("AdapterVersionOut", "approved_by"),
        ("BaseModelOut", "created_by"),
        ("FineTuneJobOut", "created_by"),
        ("QueryLogOut", "user"),
    ],
)
def test_a_user_field_that_is_null_until_someone_acts_is_nullable(
    schema: dict[str, Any], component: str, field: str
) -> None:
    assert schema["components"]["schemas"][component]["properties"][field].get("nullable") is True


def test_fine_tune_event_levels_are_info_warning_error_not_the_dpia_risk_scale(
    schema: dict[str, Any],
) -> None:
    ref = schema["components"]["schemas"]["FineTuneEventOut"]["properties"]["level"]["$ref"]
    assert schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["enum"] == ["info", "warning", "error"]


def test_every_request_body_refuses_fields_it_does_not_declare(schema: dict[str, Any]) -> None:
    bodies = {
        name: body for name, body in schema["components"]["schemas"].items() if name.endswith("Request")
    }
    assert bodies
    assert {name for name, body in bodies.items() if body.get("additionalProperties") is not False} == set()


def test_a_text_filter_needs_a_value_without_nul_and_page_size_has_its_limits(
    schema: dict[str, Any], settings: Any
) -> None:
    parameters = {
        p["name"]: p["schema"] for p in schema["paths"]["/api/v1/audit-events/"]["get"]["parameters"]
    }
    assert parameters["actor"] == {"type": "string", "minLength": 1, "pattern": "^[^\\x00]+$"}
    assert parameters["page_size"]["maximum"] == settings.API_MAX_PAGE_SIZE
    assert parameters["page"]["minimum"] == 1


def test_every_operation_documents_its_error_statuses_with_the_error_shape(schema: dict[str, Any]) -> None:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            expected = {"400", "401", "403", "404", "429"}
            if method in ("post", "patch", "put", "delete"):
                expected |= {"409", "413", "415"}
            assert expected <= set(operation["responses"]), (method, path)
            body = operation["responses"]["404"]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/ErrorOut"}, (method, path)
