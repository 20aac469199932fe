"""The permission matrix of the governance API, endpoint by endpoint (DESIGN section 12).

Every route x every role x every method. A new governance endpoint is one line in ROUTES; a route
registered under /api/v1/ by a `governance.` view without a line here fails
`test_every_governance_route_under_api_v1_has_a_matrix_line`.

Retrieval and training mount their own routes under /api/v1/ (collections, documents, base-models,
fine-tune-jobs, adapters, evaluations) through `register_api_routes`; their owners keep their own
matrices, so the coverage check here only looks at views whose module starts with `governance.`.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone

from governance.models import (
    DPIA,
    AISystem,
    AuditEvent,
    Dataset,
    DatasetVersion,
    Deployment,
    DeploymentDocumentation,
    ErasureNameMatch,
    ErasureRequest,
    LegalHold,
    SuppressedKey,
)
from governance.roles import AUDITOR, COMPLIANCE_OFFICER, ENGINEER
from governance.services import datasets, dpia, erasure, retention, systems
from tests.conftest import built_once, fresh
from tests.factories import UserFactory

NO_ROLE = "no_role"
ANONYMOUS = "anonymous"
ROLES = (COMPLIANCE_OFFICER, ENGINEER, AUDITOR, NO_ROLE, ANONYMOUS)
ROLE_FIXTURES = {COMPLIANCE_OFFICER: "officer", ENGINEER: "engineer", AUDITOR: "auditor", NO_ROLE: "outsider"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PASSWORD = "a-long-test-password"  # the one UserFactory sets

READERS = frozenset({COMPLIANCE_OFFICER, ENGINEER, AUDITOR})
WRITERS = frozenset({COMPLIANCE_OFFICER, ENGINEER})
REVIEWERS = frozenset({COMPLIANCE_OFFICER})
EVERYONE = frozenset(ROLES)


@dataclass(frozen=True)
class Access:
    """Who may call an offered method, the status they get, and how many audit events it appends."""

    roles: frozenset[str]
    status: int
    events: int


READ = Access(READERS, 200, 0)
CREATE = Access(WRITERS, 201, 1)
WRITE = Access(WRITERS, 200, 1)
REVIEW = Access(REVIEWERS, 200, 1)
PUBLIC = Access(EVERYONE, 200, 0)
# Erasure requests: officers and auditors read, officers act, engineers get 403 on all of it.
OVERSIGHT = frozenset({COMPLIANCE_OFFICER, AUDITOR})
O_READ = Access(OVERSIGHT, 200, 0)
O_CREATE = Access(REVIEWERS, 201, 1)
O_WRITE = Access(REVIEWERS, 200, 1)
# Approving a deployment of a system that is not high-risk generates its documentation first: two events.
APPROVAL = Access(REVIEWERS, 200, 2)
O_REPORT = Access(OVERSIGHT, 200, 1)  # each report run appends its report.generated event
# Asking for documentation whose facts have not changed returns the current version and records nothing.
CURRENT = Access(WRITERS, 200, 0)


@dataclass
class World:
    """The rows every case needs, created through the services (so audit events exist too)."""

    author: Any
    system: AISystem
    dataset: Dataset
    version: DatasetVersion
    dpia_draft: DPIA
    dpia_review: DPIA
    event: AuditEvent
    erasure: ErasureRequest
    erasure_held: ErasureRequest
    erasure_done: ErasureRequest
    suppression: SuppressedKey
    erasure_erased: ErasureRequest
    name_match: ErasureNameMatch
    deployment: Deployment
    deployment_approved: Deployment
    hold: LegalHold
    access_done: ErasureRequest

    def ids(self) -> dict[str, Any]:
        return {
            "system": self.system.pk,
            "dataset": self.dataset.pk,
            "version": self.version.pk,
            "dpia_draft": self.dpia_draft.pk,
            "dpia_review": self.dpia_review.pk,
            "event": self.event.sequence,
            "erasure": self.erasure.pk,
            "erasure_held": self.erasure_held.pk,
            "erasure_done": self.erasure_done.pk,
            "erasure_erased": self.erasure_erased.pk,
            "suppression": self.suppression.pk,
            "deployment": self.deployment.pk,
            "deployment_approved": self.deployment_approved.pk,
            "hold": self.hold.pk,
            "access_done": self.access_done.pk,
        }


Payload = tuple[Any, str]  # (data, format for the test client)
Body = Callable[[World, Any], Payload]


def records() -> bytes:
    return b"".join(b'{"input": "question %d", "output": "answer %d"}\n' % (i, i) for i in range(10))


def upload(world: World, user: Any) -> Payload:
    return {
        "file": SimpleUploadedFile("train.jsonl", records(), content_type="application/jsonl")
    }, "multipart"


def credentials(world: World, user: Any) -> Payload:
    username = user.username if user is not None else world.author.username
    return {"username": username, "password": PASSWORD}, "json"


def body(data: dict[str, Any] | Callable[[World], dict[str, Any]]) -> Body:
    return lambda world, user: (data(world) if callable(data) else data, "json")


NEW_SYSTEM = body({"name": "New system", "intended_purpose": "Answers questions"})
SYSTEM_EDIT = body({"human_oversight": "A person reviews every answer."})
NEW_DATASET = body({"name": "New dataset", "purpose": "training"})
DATASET_EDIT = body({"provenance": "Exported from the ticket system."})
DPIA_EDIT = body({"dpo_opinion": "Acceptable with the planned measures."})
REJECTION = body({"comment": "The risks are underestimated."})
NEW_DPIA = body(lambda world: {"title": "New DPIA", "ai_system": world.system.pk})
NEW_ERASURE = body({"reference": "DSR-new", "identifiers": [{"type": "email", "value": "anna@example.org"}]})
NEW_ACCESS = body(
    {
        "kind": "access",
        "reference": "SAR-new",
        "identifiers": [{"type": "email", "value": "anna@example.org"}],
    }
)
REFUSAL = body({"ground": "legal_claims", "reason": "Needed to defend a pending claim."})
A_REASON = body({"reason": "Litigation hold requested by the legal department."})
EXTENSION = body({"months": 1, "reason": "Many requests this month."})
DECIDE = body(lambda world: {"exclude": [world.name_match.pk]})
NEW_HOLD = body(lambda world: {"dataset": world.dataset.pk, "reason": "Tax audit: keep the invoices."})
NO_BODY = body({})
NEW_DEPLOYMENT = body(
    lambda world: {
        "ai_system": world.system.pk,
        "base_model": world.deployment.base_model_id,
        "environment": "production",
    }
)
ADVICE = body(
    {
        "answers": {
            "failure_mode": "knowledge", "knowledge_change": "monthly", "needs_citations": True,
            "prompting_meets_bar": False, "training_pairs": 0, "monthly_requests": 1000,
            "latency_bound_ms": 2000, "on_premise": True, "training_budget": 0,
        }
    }
)  # fmt: skip


@dataclass(frozen=True)
class Route:
    """One line of the matrix: a named route, its path, and the access each offered method grants.

    Methods the route does not offer answer 405 to the roles the view lets through for that kind of
    method (`read_gate` for GET, `write_gate` otherwise: RolePermission runs before method dispatch),
    and 401/403 to everyone else.
    """

    name: str
    path: str
    offered: dict[str, Access]
    body: Body = body({})
    read_gate: frozenset[str] = READERS
    write_gate: frozenset[str] = WRITERS

    def url(self, world: World) -> str:
        return self.path.format(**world.ids())


def oversight(name: str, path: str, offered: dict[str, Access], payload: Body = NO_BODY) -> Route:
    """A route of the erasure workbench (officers act, auditors read); methods it does not offer are
    judged by the policy's "api" line like every other route's."""
    return Route(name, "/api/v1/" + path, offered, payload)


# One line per route. Kept unformatted so the table reads as a table.
# fmt: off
ROUTES = [
    Route("api-token", "/api/v1/auth/token/", {"POST": PUBLIC}, credentials, EVERYONE, EVERYONE),
    Route("api-root", "/api/v1/", {"GET": READ}),
    Route("ai-system-list", "/api/v1/ai-systems/", {"GET": READ, "POST": CREATE}, NEW_SYSTEM),
    Route("ai-system-detail", "/api/v1/ai-systems/{system}/", {"GET": READ, "PATCH": WRITE}, SYSTEM_EDIT),
    Route("ai-system-advisor", "/api/v1/ai-systems/{system}/advisor/", {"POST": WRITE}, ADVICE),
    Route("advisor-list", "/api/v1/advisor/", {"POST": READ}, ADVICE),
    Route("dataset-list", "/api/v1/datasets/", {"GET": READ, "POST": CREATE}, NEW_DATASET),
    Route("dataset-detail", "/api/v1/datasets/{dataset}/", {"GET": READ, "PATCH": WRITE}, DATASET_EDIT),
    Route("dataset-versions", "/api/v1/datasets/{dataset}/versions/", {"GET": READ, "POST": CREATE}, upload),
    Route("dataset-version-list", "/api/v1/dataset-versions/", {"GET": READ}),
    Route("dataset-version-detail", "/api/v1/dataset-versions/{version}/", {"GET": READ}),
    Route("dpia-list", "/api/v1/dpias/", {"GET": READ, "POST": CREATE}, NEW_DPIA),
    Route("dpia-detail", "/api/v1/dpias/{dpia_draft}/", {"GET": READ, "PATCH": WRITE}, DPIA_EDIT),
    Route("dpia-submit", "/api/v1/dpias/{dpia_draft}/submit/", {"POST": WRITE}),
    Route("dpia-approve", "/api/v1/dpias/{dpia_review}/approve/", {"POST": REVIEW}),
    Route("dpia-reject", "/api/v1/dpias/{dpia_review}/reject/", {"POST": REVIEW}, REJECTION),
    Route("audit-event-list", "/api/v1/audit-events/", {"GET": READ}),
    Route("audit-event-detail", "/api/v1/audit-events/{event}/", {"GET": READ}),
    Route("audit-event-verify", "/api/v1/audit-events/verify/", {"GET": READ}),
    oversight("erasure-request-list", "erasure-requests/", {"GET": O_READ, "POST": O_CREATE}, NEW_ERASURE),
    oversight("erasure-request-detail", "erasure-requests/{erasure}/", {"GET": O_READ}),
    oversight("erasure-request-execute", "erasure-requests/{erasure}/execute/", {"POST": O_WRITE}),
    oversight("erasure-request-refresh", "erasure-requests/{erasure}/refresh/", {"POST": O_WRITE}),
    oversight("erasure-request-reject", "erasure-requests/{erasure}/reject/", {"POST": O_WRITE}, REFUSAL),
    oversight("erasure-request-hold", "erasure-requests/{erasure}/hold/", {"POST": O_WRITE}, A_REASON),
    oversight("erasure-request-release", "erasure-requests/{erasure_held}/release/", {"POST": O_WRITE}),
    oversight("erasure-request-extend", "erasure-requests/{erasure}/extend/", {"POST": O_WRITE}, EXTENSION),
    oversight("erasure-request-matches", "erasure-requests/{erasure}/matches/", {"GET": O_READ}),
    oversight("erasure-request-decide", "erasure-requests/{erasure_held}/decide/", {"POST": O_WRITE}, DECIDE),
    oversight("erasure-request-purge", "erasure-requests/{erasure_erased}/purge/", {"POST": O_WRITE}),
    oversight("erasure-request-certificate", "erasure-requests/{erasure_done}/certificate/", {"GET": O_READ}),
    oversight("erasure-request-facts", "erasure-requests/{erasure_done}/certificate/facts/", {"GET": O_READ}),
    # Every kind of data subject request: the same actions, plus the package of an access request.
    oversight("subject-request-list", "subject-requests/", {"GET": O_READ, "POST": O_CREATE}, NEW_ACCESS),
    oversight("subject-request-detail", "subject-requests/{access_done}/", {"GET": O_READ}),
    oversight("subject-request-execute", "subject-requests/{erasure}/execute/", {"POST": O_WRITE}),
    oversight("subject-request-refresh", "subject-requests/{erasure}/refresh/", {"POST": O_WRITE}),
    oversight("subject-request-reject", "subject-requests/{erasure}/reject/", {"POST": O_WRITE}, REFUSAL),
    oversight("subject-request-hold", "subject-requests/{erasure}/hold/", {"POST": O_WRITE}, A_REASON),
    oversight("subject-request-release", "subject-requests/{erasure_held}/release/", {"POST": O_WRITE}),
    oversight("subject-request-extend", "subject-requests/{erasure}/extend/", {"POST": O_WRITE}, EXTENSION),
    oversight("subject-request-matches", "subject-requests/{erasure}/matches/", {"GET": O_READ}),
    oversight("subject-request-decide", "subject-requests/{erasure_held}/decide/", {"POST": O_WRITE}, DECIDE),
    oversight("subject-request-purge", "subject-requests/{erasure_erased}/purge/", {"POST": O_WRITE}),
    oversight("subject-request-certificate", "subject-requests/{erasure_done}/certificate/", {"GET": O_READ}),
    oversight("subject-request-facts", "subject-requests/{erasure_done}/certificate/facts/", {"GET": O_READ}),
    # The package and its password: officers only (an auditor reads the register, never the person's data).
    oversight("subject-request-package", "subject-requests/{access_done}/package/", {"GET": O_WRITE}),
    oversight(
        "subject-request-package-password",
        "subject-requests/{access_done}/package/password/",
        {"POST": O_WRITE},
    ),
    oversight("suppression-list", "suppressions/", {"GET": O_READ}),
    oversight("suppression-detail", "suppressions/{suppression}/", {"GET": O_READ}),
    oversight("suppression-lift", "suppressions/{suppression}/lift/", {"POST": O_WRITE}, A_REASON),
    oversight("report-audit", "reports/audit/?start=2026-01-01&end=2026-12-31", {"GET": O_REPORT}),
    oversight("report-dpia", "reports/dpia/{dpia_draft}/", {"GET": O_REPORT}),
    oversight("report-records-of-processing", "reports/records-of-processing/", {"GET": O_REPORT}),
    oversight("legal-hold-list", "legal-holds/", {"GET": O_READ, "POST": O_CREATE}, NEW_HOLD),
    oversight("legal-hold-detail", "legal-holds/{hold}/", {"GET": O_READ}),
    oversight("legal-hold-lift", "legal-holds/{hold}/lift/", {"POST": O_WRITE}, A_REASON),
    oversight("retention-report", "retention/report/?output=csv", {"GET": O_REPORT}),
    Route("deployment-list", "/api/v1/deployments/", {"GET": READ, "POST": CREATE}, NEW_DEPLOYMENT),
    Route("deployment-detail", "/api/v1/deployments/{deployment}/", {"GET": READ}),
    Route("deployment-gates", "/api/v1/deployments/{deployment}/gates/", {"GET": READ}),
    Route("deployment-approve", "/api/v1/deployments/{deployment}/approve/", {"POST": APPROVAL}),
    Route("deployment-activate", "/api/v1/deployments/{deployment_approved}/activate/", {"POST": WRITE}),
    Route("deployment-retire", "/api/v1/deployments/{deployment}/retire/", {"POST": WRITE}),
    Route("deployment-documentation", "/api/v1/deployments/{deployment_approved}/documentation/", {"GET": READ, "POST": CURRENT}),  # noqa: E501
    Route("deployment-documentation-pdf", "/api/v1/deployments/{deployment_approved}/documentation/pdf/", {"GET": READ}),  # noqa: E501
]
# fmt: on


def expected_status(route: Route, method: str, role: str) -> int:
    denied = 401 if role == ANONYMOUS else 403
    access = route.offered.get(method)
    if access is not None:
        return access.status if role in access.roles else denied
    gate = route.read_gate if method == "GET" else route.write_gate
    return 405 if role in gate else denied


def expected_events(route: Route, method: str, role: str) -> int:
    access = route.offered.get(method)
    return access.events if access is not None and role in access.roles else 0


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # Hundreds of cases each create users; the production hasher would spend most of the run hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def _module_world(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The world, built once for the ~1,700 cases that each read it.

    Building it costs ten times what one case does; each case's writes are rolled back (see
    tests.conftest.built_once), so every case still starts from exactly these rows.
    """
    yield from built_once(django_db_blocker, tmp_path_factory, _build_world)


@pytest.fixture
def world(db: None, _module_world: World) -> World:
    """The module's world, every row read again (no state left on an instance by the case before)."""
    return World(*(fresh(getattr(_module_world, field.name)) for field in dataclasses.fields(World)))


def _build_world() -> World:
    access_done = _access_done()  # before any dataset version exists: a version being scanned waits it
    author = UserFactory(username="author", role=ENGINEER)
    system = systems.ai_system_create(actor=author, owner=author, name="Helpdesk", intended_purpose="Answers")
    dataset = datasets.dataset_create(
        actor=author, owner=author, name="Tickets", purpose="training", ai_systems=[system]
    )
    content = records()
    version = datasets.dataset_version_create(
        actor=author, dataset=dataset, stream=io.BytesIO(content), filename="v1.jsonl", size=len(content)
    )
    content_fields = {
        "context": "Tickets fine-tune an assistant.",
        "necessity_proportionality": "Six months of tickets.",
        "data_subject_rights": "Erasure through the platform.",
        "planned_measures": "Encryption at rest.",
        **{
            f"{risk}_{axis}": "limited"
            for risk in ("illegitimate_access", "unwanted_modification", "disappearance")
            for axis in ("likelihood", "severity")
        },
    }
    draft = dpia.dpia_create(
        actor=author, ai_system=system, datasets=[dataset], title="Draft", **content_fields
    )
    review = dpia.dpia_create(
        actor=author, ai_system=system, datasets=[dataset], title="Review", **content_fields
    )
    review = dpia.dpia_submit(actor=author, dpia=review)
    event = AuditEvent.objects.order_by("sequence").first()
    assert event is not None
    erasure_rows = _erasure_rows(author)
    deployment_rows = _deployment_rows(author, system)
    hold = retention.legal_hold_create(actor=None, dataset=dataset, reason="Litigation hold by legal.")
    return World(
        author,
        system,
        dataset,
        version,
        draft,
        review,
        event,
        *erasure_rows,
        *deployment_rows,
        hold,
        access_done,
    )


def _access_done() -> ErasureRequest:
    """An access request whose package is built (the export run here, as the worker runs it)."""
    from governance.services import subject_access

    officer = UserFactory(username="access-officer", role=COMPLIANCE_OFFICER)
    request = subject_access.subject_request_create(
        actor=officer,
        kind="access",
        reference="SAR-1",
        identifiers=[{"type": "email", "value": "jan.kowalski@example.org"}],
    )
    request = subject_access.subject_request_execute(actor=officer, request=request)
    assert subject_access.subject_request_claim(request_id=request.pk)
    assert subject_access.subject_request_run_export(request_id=request.pk).state == "done"
    return ErasureRequest.objects.get(pk=request.pk)


def _deployment_rows(author: Any, system: AISystem) -> tuple[Deployment, Deployment]:
    """A requested deployment, and an approved one whose documentation is current (a stand-in PDF)."""
    import hashlib

    from governance.services.documentation import documentation_facts
    from training.models import BaseModel

    AISystem.objects.filter(pk=system.pk).update(risk_class_decided_at=timezone.now())
    base = BaseModel.objects.create(
        name="deploy-base", path="/nonexistent/base", architecture="GPT2LMHeadModel", model_type="gpt2",
        parameter_count=1000, max_sequence_length=128, config_sha256="6" * 64, status="ready",
        manifest={"model.safetensors": {"sha256": "7" * 64, "size": 1}}, manifest_sha256="8" * 64,
    )  # fmt: skip
    officer = UserFactory(username="deployment-officer", role=COMPLIANCE_OFFICER)
    fields = {"ai_system": system, "base_model": base, "environment": "staging", "requested_by": author}
    requested = Deployment.objects.create(**fields)
    approved = Deployment.objects.create(
        **fields, status="approved", approved_by=officer, approved_at=timezone.now()
    )
    facts = documentation_facts(approved)
    pdf = Path(settings.MEDIA_ROOT) / "documentation" / f"deployment-{approved.pk}.pdf"
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.write_bytes(b"%PDF-1.7 test documentation")
    doc = DeploymentDocumentation.objects.create(
        deployment=approved, version=1, facts=facts.facts, facts_sha256=facts.sha256, missing=facts.missing,
        pdf_path=str(pdf.relative_to(settings.MEDIA_ROOT)), pdf_size=pdf.stat().st_size,
        pdf_sha256=hashlib.sha256(pdf.read_bytes()).hexdigest(),
    )  # fmt: skip
    Deployment.objects.filter(pk=approved.pk).update(documentation=doc)
    return requested, approved


def _erasure_rows(
    author: Any,
) -> tuple[ErasureRequest, ErasureRequest, ErasureRequest, SuppressedKey, ErasureRequest, ErasureNameMatch]:
    """Requests received, on hold (with a name match), completed (certificate, suppression) and erased."""
    officer = UserFactory(username="erasure-officer", role=COMPLIANCE_OFFICER)
    identifiers = [{"type": "email", "value": "jan.kowalski@example.org"}]
    with transaction.atomic():
        received = erasure.erasure_request_create(actor=officer, reference="DSR-1", identifiers=identifiers)
        held = erasure.erasure_request_create(actor=officer, reference="DSR-2", identifiers=identifiers)
        held = erasure.erasure_request_hold(actor=officer, request=held, reason="Legal hold.")
        done = erasure.erasure_request_create(actor=officer, reference="DSR-3", identifiers=identifiers)
        erased = erasure.erasure_request_create(actor=officer, reference="DSR-4", identifiers=identifiers)
    ErasureRequest.objects.filter(pk=erased.pk).update(status="erased", erased_at=timezone.now())
    match = ErasureNameMatch.objects.create(
        request=held, store="retrieval", kind="document", object_id=1, label="document 1 in 'KB'"
    )
    pdf = Path(settings.MEDIA_ROOT) / "certificates" / f"erasure-{done.pk}.pdf"
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.write_bytes(b"%PDF-1.7 test certificate")
    ErasureRequest.objects.filter(pk=done.pk).update(
        status="completed",
        certificate_file=str(pdf.relative_to(settings.MEDIA_ROOT)),
        certificate_sha256="5" * 64,
        certificate_facts={"reference": "DSR-3"},
        identifiers_encrypted=None,
    )
    done.refresh_from_db()
    suppression = SuppressedKey.objects.create(key=done.subject_keys[0], key_type="email", request=done)
    return received, held, done, suppression, ErasureRequest.objects.get(pk=erased.pk), match


def cases() -> Iterator[Any]:
    for route in ROUTES:
        for method in METHODS:
            for role in ROLES:
                yield pytest.param(route, method, role, id=f"{route.name}-{method}-{role}")


def assert_error_shape(response: Any) -> None:
    payload = response.json()
    assert set(payload) == {"error"}, payload
    assert set(payload["error"]) == {"code", "message", "details"}, payload
    assert isinstance(payload["error"]["code"], str) and payload["error"]["code"], payload


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "method", "role"), cases())
def test_the_matrix_holds(
    route: Route, method: str, role: str, world: World, api: Any, request: pytest.FixtureRequest
) -> None:
    user = request.getfixturevalue(ROLE_FIXTURES[role]) if role in ROLE_FIXTURES else None
    client = api(user)
    url = route.url(world)
    events_before = AuditEvent.objects.count()
    if method == "GET":
        response = client.get(url)
    else:
        data, fmt = route.body(world, user)
        response = getattr(client, method.lower())(url, data, format=fmt)

    expected = expected_status(route, method, role)
    assert response.status_code == expected, (url, method, role, response.content[:500])
    assert AuditEvent.objects.count() - events_before == expected_events(route, method, role)
    if expected >= 400:
        assert_error_shape(response)
        code = {401: "not_authenticated", 403: "forbidden", 405: "method_not_allowed"}[expected]
        assert response.json()["error"]["code"] == code


def test_a_compliance_officer_cannot_approve_a_dpia_they_wrote(api: Any, officer: Any, world: World) -> None:
    with transaction.atomic():
        own = dpia.dpia_create(
            actor=officer,
            ai_system=world.system,
            title="Mine",
            **{f: getattr(world.dpia_review, f) for f in dpia.REQUIRED_FOR_REVIEW if f != "title"},
        )
        own = dpia.dpia_submit(actor=officer, dpia=own)
    events_before = AuditEvent.objects.count()

    response = api(officer).post(f"/api/v1/dpias/{own.pk}/approve/", {}, format="json")

    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "author_cannot_review"
    own.refresh_from_db()
    assert own.status == "in_review"
    assert AuditEvent.objects.count() == events_before


def test_a_second_compliance_officer_approves_a_dpia_another_officer_wrote(
    api: Any, officer: Any, officer2: Any, world: World
) -> None:
    fields = {f: getattr(world.dpia_review, f) for f in dpia.REQUIRED_FOR_REVIEW if f != "title"}
    with transaction.atomic():
        record = dpia.dpia_submit(
            actor=officer,
            dpia=dpia.dpia_create(actor=officer, ai_system=world.system, title="Theirs", **fields),
        )

    response = api(officer2).post(f"/api/v1/dpias/{record.pk}/approve/", {}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"
    assert response.json()["reviewer"] == "officer2"


# --- The table covers the routes that exist, and only those --------------------------------------


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry


def governance_api_routes() -> dict[str, URLPattern]:
    """Named routes under /api/v1/ served by governance views (format-suffix twins share the name)."""
    found: dict[str, URLPattern] = {}
    for route, pattern in _walk(get_resolver().url_patterns):
        if route.startswith("api/v1/") and pattern.callback.__module__.startswith("governance."):
            assert pattern.name, f"route {route!r} has no name, so the matrix cannot refer to it"
            found.setdefault(pattern.name, pattern)
    return found


def offered_methods(pattern: URLPattern) -> set[str]:
    callback: Any = pattern.callback
    actions = getattr(callback, "actions", None)
    if actions is not None:  # a ViewSet route: the router maps exactly these methods
        return {method.upper() for method in actions} & set(METHODS)
    view_class = getattr(callback, "cls", None) or callback.view_class
    return {method for method in METHODS if hasattr(view_class, method.lower())}


def test_every_governance_route_under_api_v1_has_a_matrix_line() -> None:
    missing = sorted(set(governance_api_routes()) - {route.name for route in ROUTES})
    assert not missing, f"add a line to ROUTES for: {missing}"


def test_each_matrix_line_points_at_the_route_it_names() -> None:
    ids = dict.fromkeys(
        (
            "system", "dataset", "version", "dpia_draft", "dpia_review", "event",
            "erasure", "erasure_held", "erasure_done", "suppression", "erasure_erased", "deployment",
            "deployment_approved", "hold", "access_done",
        ),
        1,
    )  # fmt: skip
    wrong = {route.name: resolve(route.path.format_map(ids).split("?")[0]).url_name for route in ROUTES}
    assert {name: found for name, found in wrong.items() if name != found} == {}


def test_each_matrix_line_lists_exactly_the_methods_its_view_offers() -> None:
    routes = governance_api_routes()
    offered = {route.name: set(route.offered) for route in ROUTES if route.name in routes}
    actual = {name: offered_methods(routes[name]) for name in offered}
    assert offered == actual


# --- The admin, walked from the same policy -------------------------------------------------------
#
# Every registered ModelAdmin x every role: changelist, change page, add page, delete page, and every
# admin action (a POST to the changelist). Expected answers come from governance/policy.py and the
# page's `offers_add` / `offers_change`; a registered model without a line in ADMIN_ROWS, or an action
# without a line in ADMIN_ACTIONS, fails `test_every_admin_model_and_action_has_a_line`.

OWN_APPS = ("governance", "retrieval", "training", "answers")


def _third_party_admin_models() -> tuple[str, ...]:
    """Accounts, tokens, login throttling: ruled by Django's model permissions, which no role carries."""
    return tuple(sorted(label for label in _registered() if label.split(".")[0] not in OWN_APPS))


@dataclass
class AdminWorld:
    """The governance world plus retrieval and training rows, made directly: the admin only shows them."""

    base: World
    rows: dict[str, Any]


def _admin_rows(world: World) -> dict[str, Any]:
    from retrieval import storage
    from retrieval.models import Collection, Document, QueryLog
    from training.models import AdapterVersion, BaseModel, Evaluation, FineTuneEvent, FineTuneJob

    system, version = world.system, world.version
    collection = Collection.objects.create(
        name="KB", ai_system=system, embedding_model="all-MiniLM-L6-v2", embedding_dimension=4,
        model_max_tokens=256, chunk_size=200, chunk_overlap=20,
    )  # fmt: skip
    storage.create_partition(collection)
    document = Document.objects.create(
        collection=collection, external_id="faq", source_type="txt", sha256="0" * 64
    )
    query_log = QueryLog.objects.create(
        collection=collection, query_masked="refunds?", k=5, min_score=0.3, search_mode="exact"
    )
    base_model = BaseModel.objects.create(
        name="tiny", path="/nonexistent/tiny", architecture="GPT2LMHeadModel", model_type="gpt2",
        parameter_count=1000, max_sequence_length=128, config_sha256="1" * 64,
    )  # fmt: skip
    job_fields = {
        "ai_system": system, "base_model": base_model, "dataset_version": version,
        "hyperparameters": {"rank": 4}, "created_by": world.author,
    }  # fmt: skip
    trained = FineTuneJob.objects.create(seed=1, request_sha256="2" * 64, status="succeeded", **job_fields)
    queued = FineTuneJob.objects.create(seed=2, request_sha256="3" * 64, **job_fields)
    FineTuneEvent.objects.create(job=trained, kind="progress", step=2, loss=1.5, message="step 2 of 4")
    adapter = AdapterVersion.objects.create(
        job=trained, ai_system=system, base_model=base_model, dataset_version=version, name="adapter-1",
        path="/nonexistent/adapter", files={}, sha256="4" * 64, size_bytes=1, lora_config={},
        trainable_parameters=1, total_parameters=1000, lineage={},
    )  # fmt: skip
    evaluation = Evaluation.objects.create(
        subject="baseline", base_model=base_model, ai_system=system, dataset_version=version,
        metrics={"rouge_l": 0.2}, primary_metric="rouge_l", score=0.2, sample_count=1, threshold=0.5,
        passed=False,
    )  # fmt: skip
    return {
        "governance.aisystem": system,
        "governance.dataset": world.dataset,
        "governance.datasetversion": version,
        "governance.dpia": world.dpia_draft,
        "governance.auditevent": world.event,
        "retrieval.collection": collection,
        "retrieval.document": document,
        "retrieval.querylog": query_log,
        "training.basemodel": base_model,
        "training.finetunejob": queued,
        "training.adapterversion": adapter,
        "training.evaluation": evaluation,
        "governance.erasurerequest": world.erasure,
        "governance.erasurenamematch": world.name_match,
        "governance.suppressedkey": world.suppression,
        "governance.deployment": world.deployment,
        "governance.legalhold": world.hold,
        "governance.retentionrun": _retention_run(world),
        **_answer_rows(world.deployment, base_model),
    }


def _retention_run(world: World) -> Any:
    from governance.models import RetentionRun

    return RetentionRun.objects.create(
        rule="dataset_retention_until", outcome="notified", target_type="dataset", target_id=world.dataset.pk,
        target_name=world.dataset.name, due_on=timezone.localdate() + timedelta(days=10),
    )  # fmt: skip


def _answer_rows(deployment: Any, base_model: Any) -> dict[str, Any]:
    from answers.models import AnswerRecord, PromptTemplate

    template = PromptTemplate.objects.create(
        deployment=deployment, version=1, text="{question}", sha256="5" * 64
    )
    record = AnswerRecord.objects.create(
        deployment=deployment, base_model=base_model, prompt_template_version=1,
        prompt_template_sha256="5" * 64, backend="local", k=5, question_masked="How long do refunds take?",
    )  # fmt: skip
    return {"answers.answerrecord": record, "answers.prompttemplate": template}


ADMIN_ROWS = (
    "governance.aisystem", "governance.dataset", "governance.datasetversion", "governance.dpia",
    "governance.auditevent", "retrieval.collection", "retrieval.document", "retrieval.querylog",
    "training.basemodel", "training.finetunejob", "training.adapterversion", "training.evaluation",
    "governance.erasurerequest", "governance.erasurenamematch", "governance.suppressedkey",
    "governance.deployment", "answers.answerrecord", "answers.prompttemplate", "governance.legalhold",
    "governance.retentionrun",
)  # fmt: skip


@dataclass(frozen=True)
class AdminAction:
    """One admin action: its row, whether it took effect, and what its reason page posts back (if any)."""

    model: str
    name: str
    target: Callable[[AdminWorld], Any]
    done: Callable[[Any], bool]
    form: tuple[tuple[str, str], ...] = ()
    events: int = 1  # audit events the action appends when allowed


def _status_is(value: str) -> Callable[[Any], bool]:
    def check(row: Any) -> bool:
        row.refresh_from_db()
        return bool(row.status == value)

    return check


def _tainted(row: Any) -> bool:
    row.refresh_from_db()
    return bool(row.taint_reason)


def _fresh(row: Any) -> Any:
    row.refresh_from_db()
    return row


def _field_is(field: str, value: Any) -> Callable[[Any], bool]:
    return lambda row: bool(getattr(_fresh(row), field) == value)


def _audited(action: str) -> Callable[[Any], bool]:
    return lambda row: AuditEvent.objects.filter(action=action, object_id=str(row.pk)).exists()


def _gone(row: Any) -> bool:
    return not type(row).objects.filter(pk=row.pk).exists()


def _row(label: str) -> Callable[[AdminWorld], Any]:
    return lambda w: w.rows[label]


# fmt: off
ADMIN_ACTIONS = [
    AdminAction("governance.dpia", "submit_for_review", lambda w: w.base.dpia_draft, _status_is("in_review")),
    AdminAction("governance.dpia", "approve", lambda w: w.base.dpia_review, _status_is("approved")),
    AdminAction("governance.dpia", "reject", lambda w: w.base.dpia_review, _status_is("rejected")),
    AdminAction("retrieval.document", "delete_with_chunks", _row("retrieval.document"), _gone),
    AdminAction("training.finetunejob", "cancel", _row("training.finetunejob"), _status_is("cancelled")),
    AdminAction("training.adapterversion", "approve", _row("training.adapterversion"), _status_is("approved")),  # noqa: E501
    AdminAction("training.adapterversion", "retire", _row("training.adapterversion"), _status_is("retired")),
    AdminAction("training.adapterversion", "taint", _row("training.adapterversion"), _tainted, (("reason", "erasure 3"),)),  # noqa: E501
    AdminAction("training.basemodel", "taint", _row("training.basemodel"), _tainted, (("reason", "licence withdrawn"),)),  # noqa: E501
    AdminAction("governance.erasurerequest", "execute", _row("governance.erasurerequest"), _status_is("in_progress")),  # noqa: E501
    AdminAction("governance.erasurerequest", "refresh", _row("governance.erasurerequest"), _audited("erasure_request.refreshed")),  # noqa: E501
    AdminAction("governance.erasurerequest", "reject", _row("governance.erasurerequest"), _status_is("rejected"), (("ground", "legal_claims"), ("reason", "pending claim"))),  # noqa: E501
    AdminAction("governance.erasurerequest", "hold", _row("governance.erasurerequest"), _status_is("on_hold"), (("reason", "legal hold"),)),  # noqa: E501
    AdminAction("governance.erasurerequest", "purge_now", lambda w: w.base.erasure_erased, _audited("erasure_request.purge_requested")),  # noqa: E501
    AdminAction("governance.erasurerequest", "release", lambda w: w.base.erasure_held, _status_is("received")),  # noqa: E501
    AdminAction("governance.erasurerequest", "extend", _row("governance.erasurerequest"), _field_is("extension_months", 2), (("months", "2"), ("reason", "complex request"))),  # noqa: E501
    AdminAction("governance.erasurenamematch", "confirm_matches", _row("governance.erasurenamematch"), _field_is("decision", "confirmed")),  # noqa: E501
    AdminAction("governance.erasurenamematch", "exclude_matches", _row("governance.erasurenamematch"), _field_is("decision", "excluded")),  # noqa: E501
    AdminAction("governance.deployment", "generate_documentation", _row("governance.deployment"), lambda r: DeploymentDocumentation.objects.filter(deployment=r).exists()),  # noqa: E501
    AdminAction("governance.deployment", "approve", _row("governance.deployment"), _status_is("approved"), events=2),  # noqa: E501
    AdminAction("governance.deployment", "activate", lambda w: w.base.deployment_approved, _status_is("active")),  # noqa: E501
    AdminAction("governance.deployment", "retire", _row("governance.deployment"), _status_is("retired"), (("reason", "replaced"),)),  # noqa: E501
    AdminAction("governance.aisystem", "advisor", _row("governance.aisystem"), _audited("ai_system.advisor_recorded"), (("failure_mode", "knowledge"), ("knowledge_change", "monthly"), ("training_pairs", "0"), ("monthly_requests", "1000"), ("latency_bound_ms", "2000"), ("training_budget", "0"))),  # noqa: E501
    AdminAction("governance.legalhold", "lift", _row("governance.legalhold"), lambda r: bool(_fresh(r).lifted_at), (("reason", "case closed"),)),  # noqa: E501
    AdminAction("governance.suppressedkey", "lift", _row("governance.suppressedkey"), lambda r: bool(_fresh(r).lifted_at), (("reason", "consent given again"),)),  # noqa: E501
]
# fmt: on
ADMIN_VIEWS = ("changelist", "change", "add", "delete")


def _registered() -> dict[str, Any]:
    from django.contrib import admin

    return {model._meta.label_lower: model_admin for model, model_admin in admin.site._registry.items()}


def _own_actions(model_admin: Any) -> dict[str, Any]:
    """The page's own actions (Django's site-wide delete_selected needs `delete`, which nobody has)."""
    return {name: getattr(model_admin, name) for name in (model_admin.actions or ())}


def _admin_url(label: str, view: str, pk: Any = None) -> str:
    app, model = label.split(".")
    suffix = {"changelist": "", "add": "add/", "change": f"{pk}/change/", "delete": f"{pk}/delete/"}[view]
    return f"/admin/{app}/{model}/{suffix}"


def _admin_client(role: str, request: pytest.FixtureRequest) -> Any:
    from django.test import Client

    client = Client()
    if role in ROLE_FIXTURES:
        client.force_login(request.getfixturevalue(ROLE_FIXTURES[role]))
    return client


def expected_admin_status(label: str, view: str, role: str) -> int:
    from governance.policy import READ, WRITE, roles_allowed

    if role == ANONYMOUS:
        return 302  # the admin sends everyone without a session to its login page
    if label.split(".")[0] not in OWN_APPS:
        return 403  # roles carry no Django model permissions; only superusers manage accounts
    model_admin = _registered()[label]
    resource = model_admin.policy_resource
    if view in ("changelist", "change"):
        return 200 if role in roles_allowed(resource, READ) else 403
    if view == "add":
        return 200 if model_admin.offers_add and role in roles_allowed(resource, WRITE) else 403
    return 403  # delete: registers keep their history


@pytest.fixture
def admin_world(world: World) -> AdminWorld:
    return AdminWorld(world, _admin_rows(world))


def admin_view_cases() -> Iterator[Any]:
    for label in (*ADMIN_ROWS, *_third_party_admin_models()):
        views = ADMIN_VIEWS if label in ADMIN_ROWS else ("changelist",)
        for view in views:
            for role in ROLES:
                yield pytest.param(label, view, role, id=f"admin-{label}-{view}-{role}")


@pytest.mark.django_db
@pytest.mark.parametrize(("label", "view", "role"), admin_view_cases())
def test_the_admin_pages_follow_the_policy(
    label: str, view: str, role: str, admin_world: AdminWorld, request: pytest.FixtureRequest
) -> None:
    row = admin_world.rows.get(label)
    url = _admin_url(label, view, row.pk if row is not None else None)
    response = _admin_client(role, request).get(url)
    assert response.status_code == expected_admin_status(label, view, role), (url, role)
    if response.status_code == 302:
        assert response["Location"].startswith("/admin/login/")


def admin_action_cases() -> Iterator[Any]:
    for action in ADMIN_ACTIONS:
        for role in ROLES:
            yield pytest.param(action, role, id=f"admin-{action.model}-{action.name}-{role}")


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "role"), admin_action_cases())
def test_the_admin_actions_follow_the_policy(
    action: AdminAction, role: str, admin_world: AdminWorld, request: pytest.FixtureRequest
) -> None:
    from governance.policy import READ, roles_allowed

    model_admin = _registered()[action.model]
    [verb] = _own_actions(model_admin)[action.name].allowed_permissions
    resource = model_admin.policy_resource
    row = action.target(admin_world)
    events_before = AuditEvent.objects.count()

    response = _admin_client(role, request).post(
        _admin_url(action.model, "changelist"),
        {"action": action.name, "_selected_action": [row.pk], "index": 0, **dict(action.form)},
    )

    if role == ANONYMOUS:
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    elif role not in roles_allowed(resource, READ):
        assert response.status_code == 403
    else:
        # A refused action is not offered: with other actions left the POST is "no action selected"
        # and redirects; with none left the changelist just renders. A run action redirects too.
        offered = [
            name
            for name, fn in _own_actions(model_admin).items()
            if role in roles_allowed(resource, fn.allowed_permissions[0])
        ]
        assert response.status_code == (302 if offered else 200)
    allowed_here = role in roles_allowed(resource, verb)
    assert action.done(row) is allowed_here, (action.name, role)
    assert AuditEvent.objects.count() - events_before == (action.events if allowed_here else 0)


def test_every_admin_model_and_action_has_a_line() -> None:
    from governance.admin_base import PolicyAdmin
    from governance.policy import POLICY, VERBS

    registered = _registered()
    assert sorted(label for label in registered if label.split(".")[0] in OWN_APPS) == sorted(ADMIN_ROWS)
    for label in ADMIN_ROWS:
        model_admin = registered[label]
        assert isinstance(model_admin, PolicyAdmin), label
        assert model_admin.policy_resource in POLICY, label
        for inline in model_admin.inlines:
            assert inline.policy_resource in POLICY, (label, inline)
    declared = {
        (label, name): fn.allowed_permissions
        for label in ADMIN_ROWS
        for name, fn in _own_actions(registered[label]).items()
    }
    assert sorted(declared) == sorted((a.model, a.name) for a in ADMIN_ACTIONS)
    for key, permissions in declared.items():
        assert len(permissions) == 1 and permissions[0] in VERBS, (key, permissions)


def test_the_site_wide_delete_action_is_offered_to_no_role(
    rf: Any, officer: Any, engineer: Any, auditor: Any
) -> None:
    for model_admin in _registered().values():
        for user in (officer, engineer, auditor):
            request = rf.get("/admin/")
            request.user = user
            assert "delete_selected" not in model_admin.get_actions(request), (model_admin, user)


def test_the_readme_roles_table_is_the_policy() -> None:
    from pathlib import Path

    from django.conf import settings

    from governance.policy import POLICY, VERBS

    short = {COMPLIANCE_OFFICER: "officer", ENGINEER: "engineer", AUDITOR: "auditor"}
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`") and cells[0].strip("`") in POLICY:
            rows[cells[0].strip("`")] = [set(c.split(", ")) - {"-"} for c in cells[1:]]
    expected = {
        resource: [{short[role] for role in line[verb]} for verb in VERBS]
        for resource, line in POLICY.items()
    }
    assert rows == expected
