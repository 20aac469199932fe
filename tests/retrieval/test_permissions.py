"""Permission matrix of retrieval: auditors read, engineers and officers write, anonymous gets 401."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from retrieval.models import Collection, Document
from tests.retrieval.conftest import doc

pytestmark = pytest.mark.django_db

ROLES = ["officer", "engineer", "auditor", "outsider", None]


@pytest.fixture
def who(request):
    return request.getfixturevalue(request.param) if request.param else None


@pytest.fixture
def indexed(collection, ingest):
    [document] = ingest(collection, doc("faq", "Refunds take five working days."))
    return document


def _expected(role, allowed, success=200):
    if role is None:
        return 401
    return success if role in allowed else 403


def _check(response, expected):
    assert response.status_code == expected, response.content


@pytest.mark.parametrize("who", ROLES, indirect=True)
def test_listing_and_reading_collections_and_documents(api, who, request, collection, indexed):
    role = request.node.callspec.params["who"]
    expected = _expected(role, {"officer", "engineer", "auditor"})
    client = api(who)
    for url in [
        "/api/v1/collections/",
        f"/api/v1/collections/{collection.pk}/",
        f"/api/v1/collections/{collection.pk}/documents/",
        "/api/v1/documents/",
        f"/api/v1/documents/{indexed.pk}/",
    ]:
        _check(client.get(url), expected)


@pytest.mark.parametrize("who", ROLES, indirect=True)
def test_creating_a_collection(api, who, request, ai_system):
    role = request.node.callspec.params["who"]
    response = api(who).post(
        "/api/v1/collections/", {"name": f"C {role}", "ai_system": ai_system.pk}, format="json"
    )
    _check(response, _expected(role, {"officer", "engineer"}, 201))
    assert Collection.objects.filter(name=f"C {role}").exists() == (response.status_code == 201)


@pytest.mark.parametrize("who", ROLES, indirect=True)
def test_updating_a_collection(api, who, request, collection):
    role = request.node.callspec.params["who"]
    response = api(who).patch(f"/api/v1/collections/{collection.pk}/", {"min_score": 0.4}, format="json")
    _check(response, _expected(role, {"officer", "engineer"}))


@pytest.mark.parametrize("who", ROLES, indirect=True)
def test_uploading_documents(api, who, request, collection):
    role = request.node.callspec.params["who"]
    response = api(who).post(
        f"/api/v1/collections/{collection.pk}/documents/",
        {"external_id": "x", "text": "Some text."},
        format="json",
    )
    _check(response, _expected(role, {"officer", "engineer"}, 202))
    assert Document.objects.filter(external_id="x").exists() == (response.status_code == 202)


@pytest.mark.parametrize("who", ROLES, indirect=True)
def test_deleting_a_document(api, who, request, indexed):
    role = request.node.callspec.params["who"]
    response = api(who).delete(f"/api/v1/documents/{indexed.pk}/")
    _check(response, _expected(role, {"officer", "engineer"}, 204))
    assert Document.objects.filter(pk=indexed.pk).exists() == (response.status_code != 204)


@pytest.mark.parametrize("who", ROLES, indirect=True)
def test_querying_a_collection_is_a_read_every_role_may_do(api, who, request, collection, indexed):
    role = request.node.callspec.params["who"]
    response = api(who).post(
        f"/api/v1/collections/{collection.pk}/query/", {"query": "refund"}, format="json"
    )
    _check(response, _expected(role, {"officer", "engineer", "auditor"}))


@pytest.mark.parametrize("who", ROLES, indirect=True)
def test_reading_the_query_log_is_for_officers_and_auditors(api, who, request, collection):
    role = request.node.callspec.params["who"]
    _check(api(who).get("/api/v1/query-logs/"), _expected(role, {"officer", "auditor"}))


@pytest.mark.parametrize("who", ["auditor", "outsider", None], indirect=True)
def test_the_delete_service_refuses_anyone_who_may_not_write(who, indexed):
    from governance.errors import NotPermitted
    from retrieval.services import documents

    with pytest.raises(NotPermitted) as refused:
        documents.document_delete(actor=who or AnonymousUser(), document=indexed)

    assert refused.value.code == "forbidden"
    assert Document.objects.filter(pk=indexed.pk).exists()


@pytest.mark.parametrize("who", ["engineer", "outsider"], indirect=True)
def test_the_admin_query_log_is_for_officers_and_auditors_only(who, collection):
    client = Client()
    client.force_login(who)
    assert client.get("/admin/retrieval/querylog/").status_code == 403
