"""Input the API used to mishandle: deep JSON, NUL bytes, bad dates, extra fields and files, `/`, the root."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from governance.models import AISystem, DatasetVersion
from tests.factories import AISystemFactory, DatasetFactory
from tests.governance.test_api_conventions import assert_error

pytestmark = pytest.mark.django_db

DEEP = "[" * 50_000 + "]" * 50_000


def _post_raw(client: APIClient, url: str, body: str) -> Any:
    return client.generic("POST", url, body.encode(), content_type="application/json")


# --- JSON depth ----------------------------------------------------------------------------------


def test_a_json_body_nested_fifty_thousand_levels_is_400_on_the_anonymous_token_endpoint() -> None:
    error = assert_error(_post_raw(APIClient(), "/api/v1/auth/token/", DEEP), 400, "too_deeply_nested")
    assert error["details"] == {"max_depth": 64}


def test_a_json_body_nested_fifty_thousand_levels_is_400_on_a_register(api: Any, engineer: Any) -> None:
    assert_error(_post_raw(api(engineer), "/api/v1/ai-systems/", DEEP), 400, "too_deeply_nested")
    assert not AISystem.objects.exists()


def test_one_level_past_the_limit_is_refused_and_brackets_inside_strings_do_not_count(
    api: Any, engineer: Any, settings: Any
) -> None:
    settings.API_MAX_JSON_DEPTH = 3
    too_deep = '{"name": "x", "intended_purpose": [[[1]]]}'
    assert_error(_post_raw(api(engineer), "/api/v1/ai-systems/", too_deep), 400, "too_deeply_nested")
    text = '{"name": "[[[[{{{{", "intended_purpose": "a \\"[[[[[\\" b"}'
    assert _post_raw(api(engineer), "/api/v1/ai-systems/", text).status_code == 201


# --- NUL bytes and dates -------------------------------------------------------------------------


def test_a_nul_byte_in_the_owner_of_a_body_is_400_naming_the_field(api: Any, engineer: Any) -> None:
    body = {"name": "Triage", "intended_purpose": "route tickets", "owner": "eng\x00ineer"}
    error = assert_error(
        api(engineer).post("/api/v1/ai-systems/", body, format="json"), 400, "invalid_character"
    )
    assert error["details"] == {"field": "owner"}


def test_a_nul_byte_in_any_text_field_is_400_with_the_same_code(api: Any, engineer: Any) -> None:
    dataset = DatasetFactory(owner=engineer)
    body = {"name": "ok", "provenance": "a\x00b"}
    response = api(engineer).patch(f"/api/v1/datasets/{dataset.pk}/", body, format="json")
    assert assert_error(response, 400, "invalid_character")["details"] == {"field": "provenance"}


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/audit-events/?since=2024-02-30", "since"),
        ("/api/v1/audit-events/?until=2024-01-01T25:00", "until"),
        ("/api/v1/query-logs/?since=2024-02-30", "since"),
        ("/api/v1/ai-systems/?name=a%00b", "name"),
        ("/api/v1/audit-events/?actor=eng%00ineer", "actor"),
    ],
)
def test_an_impossible_date_or_a_nul_byte_in_a_filter_is_400_naming_the_filter(
    api: Any, officer: Any, url: str, field: str
) -> None:
    error = assert_error(api(officer).get(url), 400, "invalid_filter")
    assert error["details"]["field"] == field


# --- Fields the request did not mean ------------------------------------------------------------


def test_an_unknown_field_in_a_patch_is_400_naming_it_and_changes_nothing(api: Any, engineer: Any) -> None:
    system = AISystemFactory(owner=engineer, name="Before")
    response = api(engineer).patch(
        f"/api/v1/ai-systems/{system.pk}/", {"name": "After", "purpose": "x"}, format="json"
    )
    assert assert_error(response, 400, "unknown_field")["details"]["field"] == "purpose"
    system.refresh_from_db()
    assert system.name == "Before"


def test_an_unknown_field_in_a_post_is_400_naming_it(api: Any, engineer: Any) -> None:
    body = {"name": "Triage", "intended_purpose": "route tickets", "riskclass": "high"}
    response = api(engineer).post("/api/v1/ai-systems/", body, format="json")
    assert assert_error(response, 400, "unknown_field")["details"]["field"] == "riskclass"


def test_an_unknown_field_in_a_training_body_is_400_naming_it(api: Any, engineer: Any) -> None:
    response = api(engineer).post("/api/v1/base-models/", {"name": "m", "pth": "/x"}, format="json")
    assert assert_error(response, 400, "unknown_field")["details"]["field"] == "pth"


def _file(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b'{"input": "a", "output": "b"}\n', content_type="application/jsonl")


def test_a_second_file_part_in_a_dataset_upload_is_400_and_nothing_is_stored(api: Any, engineer: Any) -> None:
    dataset = DatasetFactory(owner=engineer)
    response = api(engineer).post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"file": [_file("a.jsonl"), _file("b.jsonl")]}
    )
    error = assert_error(response, 400, "unexpected_file")
    assert error["details"] == {"field": "file", "count": 2}
    assert not DatasetVersion.objects.exists()


def test_an_extra_file_field_in_a_dataset_upload_is_400_naming_it(api: Any, engineer: Any) -> None:
    dataset = DatasetFactory(owner=engineer)
    response = api(engineer).post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"file": _file("a.jsonl"), "notes": _file("b.jsonl")}
    )
    assert assert_error(response, 400, "unexpected_file")["details"]["field"] == "notes"
    assert not DatasetVersion.objects.exists()


def test_a_bogus_ordering_is_400_naming_it(api: Any, engineer: Any) -> None:
    error = assert_error(api(engineer).get("/api/v1/ai-systems/?ordering=bogus"), 400, "invalid_ordering")
    assert (error["details"]["field"], error["details"]["value"]) == ("ordering", "bogus")


# --- `/` and the API root ------------------------------------------------------------------------


def test_the_site_root_redirects_to_the_admin() -> None:
    response = APIClient().get("/")
    assert (response.status_code, response["Location"]) == (302, "/admin/")


def test_the_api_root_lists_the_resources_of_every_app(api: Any, engineer: Any) -> None:
    response = api(engineer).get("/api/v1/")
    assert response.status_code == 200
    assert sorted(response.json()) == sorted(
        [
            "ai-systems",
            "datasets",
            "dataset-versions",
            "dpias",
            "audit-events",
            "erasure-requests",
            "subject-requests",
            "legal-holds",
            "deployments",
            "advisor",
            "suppressions",
            "collections",
            "documents",
            "query-logs",
            "base-models",
            "fine-tune-jobs",
            "adapters",
            "evaluations",
            "answers",
        ]
    )
    assert response.json()["fine-tune-jobs"] == "http://testserver/api/v1/fine-tune-jobs/"


# --- Filters and pages the schema documents (found by schemathesis, `make fuzz`) -----------------


def test_an_audit_filter_with_an_offset_postgresql_refuses_is_read_in_utc_not_a_500(
    api: Any, officer: Any
) -> None:
    response = api(officer).get("/api/v1/audit-events/", {"until": "0899-10-17T03:57:31-19:09"})
    assert response.status_code == 200, response.content[:300]
    assert response.json()["count"] == 0


@pytest.mark.parametrize("field", ["since", "until"])
def test_an_audit_filter_before_the_first_representable_instant_is_400_invalid_filter(
    api: Any, officer: Any, field: str
) -> None:
    response = api(officer).get("/api/v1/audit-events/", {field: "0001-01-01T00:00:00+01:00"})
    assert assert_error(response, 400, "invalid_filter")["details"]["field"] == field


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/dpias/?ai_system=0",
        "/api/v1/dataset-versions/?dataset=987654",
        "/api/v1/adapters/?job=-5170&dataset_version=99999999999999999999",
        "/api/v1/query-logs/?user=0",
    ],
)
def test_a_filter_on_an_id_that_does_not_exist_is_an_empty_list(api: Any, officer: Any, url: str) -> None:
    response = api(officer).get(url)
    assert response.status_code == 200, response.content[:300]
    assert response.json()["count"] == 0


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/dpias/?ai_system=x", "ai_system"),
        ("/api/v1/dpias/?ai_system=1.5", "ai_system"),
        ("/api/v1/audit-events/?sequence_to=0.5", "sequence_to"),
        ("/api/v1/audit-events/?until=", "until"),
        ("/api/v1/ai-systems/?name=", "name"),
        ("/api/v1/datasets/?contains_personal_data=maybe", "contains_personal_data"),
    ],
)
def test_a_blank_or_mistyped_filter_value_is_400_not_the_whole_list(
    api: Any, officer: Any, url: str, field: str
) -> None:
    assert assert_error(api(officer).get(url), 400, "invalid_filter")["details"]["field"] == field


@pytest.mark.parametrize("page", ["", "last", "0", "x", "١"])
def test_a_page_that_is_not_an_integer_from_one_is_400_invalid_page(
    api: Any, engineer: Any, page: str
) -> None:
    AISystemFactory(owner=engineer)
    response = api(engineer).get("/api/v1/base-models/", {"page": page})
    assert assert_error(response, 400, "invalid_page")["details"] == {"field": "page"}


def test_a_post_to_an_unknown_api_path_is_a_json_404_not_an_html_csrf_page(engineer: Any) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(engineer)
    assert_error(client.post("/api/v1/dpias/0.5/submit/"), 404, "not_found")


def test_an_empty_owner_in_a_multipart_body_is_400_not_the_caller_as_owner(api: Any, engineer: Any) -> None:
    body = {"name": "Tickets", "purpose": "training", "owner": ""}
    response = api(engineer).post("/api/v1/datasets/", body, format="multipart")
    assert assert_error(response, 400, "validation_failed")["details"] == {
        "owner": ["This field may not be blank."]
    }


def test_a_blank_legal_basis_filter_selects_datasets_without_one(api: Any, engineer: Any) -> None:
    DatasetFactory(owner=engineer, name="unset", legal_basis="")
    DatasetFactory(owner=engineer, name="set", legal_basis="consent")
    response = api(engineer).get("/api/v1/datasets/", {"legal_basis": ""})
    assert [item["name"] for item in response.json()["results"]] == ["unset"]


def test_a_page_number_far_past_the_end_is_404_not_found(api: Any, engineer: Any) -> None:
    assert_error(api(engineer).get("/api/v1/ai-systems/", {"page": "9661503352655464448"}), 404, "not_found")


def test_a_multipart_body_without_a_well_formed_part_is_400_and_changes_nothing(
    api: Any, engineer: Any
) -> None:
    dataset = DatasetFactory(owner=engineer, name="Tickets", provenance="CRM export")
    boundary = "8037044ea59ee73f56979092c4998e05"
    body = f"--{boundary}\r\n147--{boundary}--\r\n"
    response = api(engineer).generic(
        "PATCH",
        f"/api/v1/datasets/{dataset.pk}/",
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert_error(response, 400, "malformed_body")
    dataset.refresh_from_db()
    assert (dataset.name, dataset.provenance) == ("Tickets", "CRM export")


def test_get_operations_document_the_web_servers_414_as_html() -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    listing = schema["paths"]["/api/v1/query-logs/"]["get"]["responses"]
    assert list(listing["414"]["content"]) == ["text/html"]


def test_a_stale_token_sent_with_the_right_password_does_not_block_a_new_login(engineer: Any) -> None:
    engineer.set_password("s3cret-passw0rd")
    engineer.save()
    client = APIClient(HTTP_AUTHORIZATION="Token deadbeef")
    response = client.post(
        "/api/v1/auth/token/", {"username": engineer.username, "password": "s3cret-passw0rd"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["token"]


def test_a_json_body_over_the_memory_limit_is_413_in_the_error_shape(
    api: Any, engineer: Any, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = '{"name": "x", "intended_purpose": "' + "a" * 4096 + '"}'
    response = api(engineer).generic("POST", "/api/v1/ai-systems/", body, content_type="application/json")
    assert assert_error(response, 413, "payload_too_large")["details"] == {"limit_bytes": 1024}
    assert not AISystem.objects.filter(name="x").exists()


def test_a_form_with_more_fields_than_django_reads_is_400_in_the_error_shape(
    api: Any, engineer: Any, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    body = "&".join(f"f{i}=v" for i in range(50))
    response = api(engineer).generic(
        "POST", "/api/v1/ai-systems/", body, content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 400, "too_many_fields")


def test_a_boolean_where_a_number_is_expected_is_400_not_zero(api: Any, engineer: Any) -> None:
    system = AISystemFactory(evaluation_threshold=0.5)
    response = api(engineer).patch(
        f"/api/v1/ai-systems/{system.pk}/", {"evaluation_threshold": False}, format="json"
    )
    assert assert_error(response, 400, "validation_failed")["details"] == {
        "evaluation_threshold": ["A valid number is required."]
    }
    system.refresh_from_db()
    assert system.evaluation_threshold == 0.5


@pytest.mark.parametrize("value", [0, False, 1.5, ["x"]])
def test_a_number_or_boolean_where_text_is_expected_is_400_not_its_string(
    api: Any, engineer: Any, value: Any
) -> None:
    system = AISystemFactory(human_oversight="A person reviews every answer.")
    response = api(engineer).patch(
        f"/api/v1/ai-systems/{system.pk}/", {"human_oversight": value}, format="json"
    )
    assert assert_error(response, 400, "validation_failed")["details"] == {
        "human_oversight": ["Not a valid string."]
    }
    system.refresh_from_db()
    assert system.human_oversight == "A person reviews every answer."


def test_a_document_external_id_over_its_limit_is_refused_even_when_trimming_would_fit() -> None:
    from governance.jsonl import RecordInvalid
    from retrieval.intake import document_from_object

    record = {"external_id": "\r" + "a" * 300, "text": "Some text."}
    with pytest.raises(RecordInvalid) as refused:
        document_from_object(record)
    assert (refused.value.field, refused.value.code) == ("external_id", "invalid_field")
