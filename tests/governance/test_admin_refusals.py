"""A service's refusal of an admin form's save is an error on the form (the API's message, code and
status), never a server error, and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from governance.models import AuditEvent, ErasureRequest
from retrieval.models import Collection
from retrieval.services import collections
from tests.factories import AISystemFactory

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_erasure_reference_the_service_refuses_is_shown_on_the_form(officer: Any) -> None:
    events = AuditEvent.objects.count()
    response = _client(officer).post(
        "/admin/governance/erasurerequest/add/",
        {
            "reference": "DSR\tT4",
            "identifiers": "email: jan.kowalski@example.com",
            "received_at_0": "",
            "received_at_1": "",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "(invalid_reference)" in html and 'class="errornote"' in html
    assert "jan.kowalski@example.com" in html  # the officer's input is kept on the form to correct
    assert not ErasureRequest.objects.exists() and AuditEvent.objects.count() == events


def test_a_duplicate_collection_name_is_shown_on_the_form(engineer: Any) -> None:
    system = AISystemFactory(owner=engineer)
    collections.collection_create(actor=engineer, ai_system=system, name="KB")
    response = _client(engineer).post(
        "/admin/retrieval/collection/add/",
        {
            "name": "KB", "ai_system": system.pk, "description": "", "embedding_model": "all-MiniLM-L6-v2",
            "embedding_dimension": "", "chunk_size": "", "chunk_overlap": "", "pii_policy": "index",
            "hnsw_m": 16, "hnsw_ef_construction": 64, "min_score": 0.3,
        },
    )  # fmt: skip
    assert response.status_code == 409, response.status_code
    assert "(duplicate_name)" in response.content.decode()
    assert Collection.objects.filter(name="KB").count() == 1


def test_a_review_date_years_away_is_refused_so_a_dpia_cannot_escape_review(
    officer: Any, officer2: Any
) -> None:
    import datetime as dt

    from django.utils import timezone

    from governance.errors import ValidationFailed
    from governance.models import DPIA
    from governance.services import dpia

    sections = {
        "context": "c", "necessity_proportionality": "n", "data_subject_rights": "r", "planned_measures": "m",
        **{f"{r}_{a}": "limited" for r in ("illegitimate_access", "unwanted_modification", "disappearance")
           for a in ("likelihood", "severity")},
    }  # fmt: skip
    record = dpia.dpia_create(
        actor=officer, ai_system=AISystemFactory(owner=officer), title="Far", **sections
    )
    dpia.dpia_submit(actor=officer, dpia=record)
    with pytest.raises(ValidationFailed) as refused:
        dpia.dpia_approve(actor=officer2, dpia=record, review_due=dt.date(9999, 12, 31))
    assert refused.value.code == "invalid_review_due" and "within" in refused.value.message
    assert DPIA.objects.get(pk=record.pk).status == "in_review"
    approved = dpia.dpia_approve(
        actor=officer2, dpia=record, review_due=timezone.localdate() + dt.timedelta(days=700)
    )
    assert approved.status == "approved"


def test_an_erasure_request_received_decades_ago_is_refused(officer: Any) -> None:
    import datetime as dt

    from governance.errors import ValidationFailed
    from governance.services import erasure

    with pytest.raises(ValidationFailed) as refused:
        erasure.erasure_request_create(
            actor=officer,
            reference="DSR-OLD",
            identifiers=[{"type": "email", "value": "jan.kowalski@example.com"}],
            received_at=dt.datetime(1900, 1, 1, tzinfo=dt.UTC),
        )
    assert refused.value.code == "received_too_long_ago"
    assert not ErasureRequest.objects.exists()
