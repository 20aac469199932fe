"""Annex IV technical documentation of a deployment: facts from the registers, PDF, versions, hashes."""

# The training fixtures are imported by name (they live in tests/training/conftest.py); pytest passes
# them to the tests as arguments, which ruff reads as redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from pypdf import PdfReader

from governance.choices import DatasetPurpose, DeclarationStatus, Environment, LegalBasis, RiskClass
from governance.errors import Conflict, NotPermitted, ValidationFailed
from governance.models import AISystem, AuditEvent, DatasetVersion, Deployment, DeploymentDocumentation
from governance.roles import ENGINEER
from governance.services import documentation
from governance.services.audit import canonical_json
from retrieval.choices import DocumentStatus, SourceType
from retrieval.models import Collection, Document
from retrieval.services import deployment_part as retrieval_part
from tests.conftest import built_once, fresh_fixture
from tests.factories import AISystemFactory, DatasetFactory, UserFactory
from tests.training.conftest import (  # noqa: F401 - fixtures shared with the training tests
    FIXTURE_SETTINGS,
    _clear_hooks,
    _training_settings,
    adapter,
    approved_dpia,
    demo_model_dir,
    make_version,
    new_ai_system,
    new_version,
    register_base_model,
    train_job,
)
from tests.training.helpers import ticket_records, upload_version
from training.models import Evaluation
from training.services import deployment_part as training_part

CSS_URL = "platform-static:reports/report.css"
HEADINGS = [
    "1. General description",
    "2. Elements and development process",
    "3. Monitoring, functioning and control",
    "4. Appropriateness of the performance metrics",
    "5. Risk management system",
    "6. Changes over the lifecycle",
    "7. Standards applied",
    "8. EU declaration of conformity",
    "9. Post-market monitoring plan",
]
INJECTIONS = {
    "provider": "{{ settings.SECRET_KEY }}",
    "intended_purpose": "<img src=file:///etc/passwd>",
    "instructions_for_use": "<link rel=attachment href=file:///etc/passwd>",
    "hardware": "<div style='background: url(http://127.0.0.1:6379/)'>x</div>",
    "standards_applied": "<style>@import url(http://127.0.0.1:6379/x.css);</style>",
    "monitoring_plan": "@import url(http://127.0.0.1:6379/y.css);",
    "human_oversight": "{% include 'reports/base.html' %}",
}
PII_TITLE, PII_TEXT, PII_SOURCE = (
    "Complaint of Anna Kowalska",
    "anna.kowalska@example.com wrote",
    "crm://anna-k",
)


def pdf_pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def squeezed(text: str) -> str:
    # Text extraction breaks lines where the layout wrapped them; compare without any whitespace.
    return "".join(text.split())


def stored_pdf(doc: DeploymentDocumentation) -> bytes:
    return documentation.documentation_pdf_path(doc).read_bytes()


def record_everything(system: Any, dataset: Any) -> None:
    """Every fact Annex IV requires of the AI system and its dataset, recorded."""
    system.provider = "Example Support Ltd, 1 Main Street, Dublin"
    system.system_version = "2.1.0"
    system.hardware = "One NVIDIA L4 GPU per replica"
    system.instructions_for_use = "Agents read the suggested category before routing a ticket."
    system.metrics_rationale = "Routing needs the exact category: exact match and ROUGE-L measure it."
    system.standards_applied = "ISO/IEC 42001:2023"
    system.declaration_status = DeclarationStatus.SIGNED
    system.declaration_reference = "DoC-2026-007"
    system.monitoring_plan = "Weekly review of hand-offs and negative feedback."
    system.human_oversight = "An agent confirms every routing before it takes effect."
    system.risk_class = RiskClass.HIGH
    system.save()
    dataset.provenance = "Helpdesk export of 2025, pseudonymised at source"
    dataset.save()


@dataclass(frozen=True)
class Shared:
    engineer: Any
    ai_system: Any
    base_model: Any
    version: Any
    trained_job: Any


@pytest.fixture(scope="module")
def _shared(
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
    demo_model_dir: Path,
) -> Iterator[Shared]:
    """The rows the training fixtures of the same names make, made once for the module.

    A trained job (with its hold-out evaluations) and a scanned version cost more than rendering a
    PDF; each test's writes are rolled back (tests.conftest.built_once), so each starts from these.
    """

    def build() -> Shared:
        engineer = UserFactory(username="engineer", role=ENGINEER)
        system = new_ai_system(engineer)
        base_model = register_base_model(engineer, demo_model_dir)
        version = new_version(engineer, system)
        return Shared(engineer, system, base_model, version, train_job(engineer, system, base_model, version))

    yield from built_once(django_db_blocker, tmp_path_factory, build, **FIXTURE_SETTINGS)


engineer = fresh_fixture("engineer")
ai_system = fresh_fixture("ai_system")
base_model = fresh_fixture("base_model")
version = fresh_fixture("version")
trained_job = fresh_fixture("trained_job")


@pytest.fixture
def deployment(engineer: Any, ai_system: Any, base_model: Any, adapter: Any) -> Deployment:
    return Deployment.objects.create(
        ai_system=ai_system,
        base_model=base_model,
        adapter_version=adapter,
        environment=Environment.STAGING,
        requested_by=engineer,
    )


@pytest.fixture
def recorded(deployment: Deployment, version: Any) -> Deployment:
    record_everything(deployment.ai_system, version.dataset)
    return deployment


@pytest.fixture
def generated(recorded: Deployment, engineer: Any) -> DeploymentDocumentation:
    doc, created = documentation.documentation_generate(actor=engineer, deployment=recorded)
    assert created
    return doc


def shown_values(facts: dict[str, Any]) -> list[str]:
    """Every label, value and table cell the facts hold, as text."""
    out: list[str] = []
    for section in facts["sections"]:
        for item in section["items"]:
            out.append(item["label"])
            if item["kind"] == "fact" and item["value"] not in (None, ""):
                out.append(str(item["value"]))
            if item["kind"] == "table":
                out += item["columns"]
                out += [str(cell) for row in item["rows"] for cell in row if cell not in (None, "")]
    return out


# The document


def test_the_pdf_has_the_nine_section_headings_in_order(generated):
    text = "\n".join(pdf_pages(stored_pdf(generated)))
    positions = [text.find(heading) for heading in HEADINGS]
    assert -1 not in positions
    assert positions == sorted(positions)


def test_the_pdf_states_the_adapter_and_dataset_sha256_and_the_evaluation_figures(
    generated, adapter, version
):
    text = squeezed("\n".join(pdf_pages(stored_pdf(generated))))
    evaluation = adapter.evaluations.get(subject="adapter")
    assert adapter.sha256 in text
    assert version.sha256 in text
    assert adapter.base_model.manifest_sha256 in text
    assert squeezed(f"{evaluation.primary_metric} {round(evaluation.score, 4)} against threshold") in text
    assert squeezed(f"{evaluation.sample_count} samples of") in text


def test_every_fact_of_the_json_is_printed_in_the_pdf(generated):
    text = squeezed("\n".join(pdf_pages(stored_pdf(generated))))
    absent = [value for value in shown_values(generated.facts) if squeezed(value) not in text]
    assert absent == []


def test_the_stored_facts_are_the_live_facts_and_their_hash(generated, recorded):
    live = documentation.documentation_facts(recorded)
    assert (generated.facts, generated.facts_sha256) == (live.facts, live.sha256)
    assert live.sha256 == hashlib.sha256(canonical_json(live.facts).encode()).hexdigest()


def test_the_configuration_names_what_is_deployed_and_not_its_status(recorded, adapter):
    facts = documentation.documentation_facts(recorded).facts
    assert facts["configuration"] == {
        "deployment": recorded.pk,
        "environment": "staging",
        "ai_system": {"id": recorded.ai_system_id, "name": "Helpdesk"},
        "risk_class": "high",
        "base_model": {"id": recorded.base_model_id, "name": "tiny"},
        "adapter_version": {"id": adapter.pk, "name": adapter.name, "sha256": adapter.sha256},
        "collection": None,
    }


def test_a_fully_recorded_deployment_lacks_no_fact(generated):
    assert generated.missing == []


def test_a_missing_provider_is_printed_as_missing_and_listed_on_the_first_page(recorded, engineer):
    AISystem.objects.filter(pk=recorded.ai_system_id).update(provider="")
    doc, _ = documentation.documentation_generate(actor=engineer, deployment=recorded)
    pages = pdf_pages(stored_pdf(doc))
    assert doc.missing == ["1. Provider"]
    assert "MISSING 1. Provider" in " ".join(pages[0].split())
    assert "Provider MISSING" in " ".join("\n".join(pages[1:]).split())


def test_a_missing_legal_basis_and_baseline_are_listed_by_their_section(recorded, engineer, adapter, version):
    version.dataset.legal_basis = LegalBasis.NONE
    version.dataset.save()
    Evaluation.objects.filter(subject="baseline").delete()
    missing = documentation.documentation_facts(recorded).missing
    assert missing == [
        f"2. Baseline (base model alone) on {version.dataset.name} v1",
        f"2. Legal basis of dataset {version.dataset.name}",
    ]


def section(facts: dict[str, Any], number: int) -> dict[str, Any]:
    return next(s for s in facts["sections"] if s["number"] == number)


def test_personal_data_without_an_approved_dpia_is_a_missing_risk_management_fact(recorded, version):
    version.dataset.contains_personal_data = True
    version.dataset.save()
    assert documentation.documentation_facts(recorded).missing == ["5. Data protection impact assessment"]


def test_the_dpias_risks_are_stated_with_likelihood_and_severity(recorded, version, approved_dpia):
    approved_dpia(version.dataset, planned_measures="Encryption at rest; access by role.")
    items = section(documentation.documentation_facts(recorded).facts, 5)["items"]
    stated = {i["label"]: i["value"] for i in items if i["kind"] == "fact"}
    assert stated["Illegitimate access to data: likelihood"] == "Limited"
    assert stated["Illegitimate access to data: severity"] == "Significant"
    assert stated["Planned measures"] == "Encryption at rest; access by role."


def test_the_advisors_recommendation_and_rules_are_stated(recorded, engineer):
    system = recorded.ai_system
    system.advisor_assessment = {
        "recommendation": "hybrid",
        "rules_fired": [
            {"id": "knowledge_changes_often", "kind": "decision", "text": "Knowledge changes weekly."}
        ],
        "costs": {"rag": {"total": 1200.5}},
        "break_even": {"months": {"rag": 4}},
    }
    system.save()
    doc, _ = documentation.documentation_generate(actor=engineer, deployment=recorded)
    flat = " ".join("\n".join(pdf_pages(stored_pdf(doc))).split())
    assert "Recommended approach hybrid" in flat
    assert "knowledge_changes_often decision Knowledge changes weekly." in flat
    assert "rag 1200.5 4" in flat


def test_the_lineage_lists_an_erasure_driven_dataset_version_with_its_parent_and_reason(
    recorded, version, engineer
):
    cleaned = upload_version(version.dataset, ticket_records(30, seed=2), actor=engineer, scan=False)
    DatasetVersion.objects.filter(pk=cleaned.pk).update(parent=version, reason="erasure request ER-2026-0001")
    items = section(documentation.documentation_facts(recorded).facts, 6)["items"]
    chain = next(i for i in items if i["label"].startswith("Dataset versions of this lineage"))
    name = version.dataset.name
    assert [row[0] for row in chain["rows"]] == [f"{name} v1", f"{name} v2"]
    assert chain["rows"][1][3:5] == ["v1", "erasure request ER-2026-0001"]


# Versions and hashes


def test_the_same_facts_give_the_same_version_and_a_byte_identical_pdf(generated, recorded, engineer):
    again, created = documentation.documentation_generate(actor=engineer, deployment=recorded)
    assert (again.pk, created) == (generated.pk, False)
    assert documentation.documentation_rerender(generated) == stored_pdf(generated)


def test_the_documentation_current_for_unchanged_facts_is_the_generated_version(generated, recorded):
    assert documentation.documentation_current(recorded) == generated


def test_a_changed_fact_gives_a_new_version_and_keeps_the_old(generated, recorded, engineer):
    system = recorded.ai_system
    system.system_version = "2.2.0"
    system.save()
    assert documentation.documentation_current(recorded) is None
    newer, created = documentation.documentation_generate(actor=engineer, deployment=recorded)
    assert (created, newer.version, generated.version) == (True, 2, 1)
    assert newer.facts_sha256 != generated.facts_sha256
    assert hashlib.sha256(stored_pdf(generated)).hexdigest() == generated.pdf_sha256
    assert documentation.documentation_current(recorded) == newer


def test_generating_records_the_pdf_and_facts_hashes_in_the_audit_chain(generated, recorded):
    event = AuditEvent.objects.get(action="deployment.documentation_generated")
    assert (event.object_type, event.object_id) == ("governance.deployment", str(recorded.pk))
    assert event.payload == {
        "version": 1,
        "facts_sha256": generated.facts_sha256,
        "pdf_sha256": hashlib.sha256(stored_pdf(generated)).hexdigest(),
        "missing": 0,
    }


def test_the_footer_states_creation_time_creator_and_the_chain_head_before_generation(generated):
    flat = " ".join(pdf_pages(stored_pdf(generated))[-1].split())
    created = generated.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"Generated {created} by engineer" in flat
    assert f"event #{generated.chain_head_sequence}" in flat
    assert generated.chain_head_hash in squeezed(flat)


def test_a_pdf_changed_on_disk_is_refused(generated):
    path = Path(settings.MEDIA_ROOT) / generated.pdf_path
    path.write_bytes(path.read_bytes() + b"%")
    with pytest.raises(Conflict) as refused:
        documentation.documentation_pdf_path(generated)
    assert refused.value.code == "documentation_file_modified"


def test_a_generate_that_loses_the_race_returns_the_winners_version_and_removes_its_file(
    generated, recorded, engineer, monkeypatch
):
    # As if the winner committed between this generate's first look and its insert.
    monkeypatch.setattr(documentation, "_version_with", lambda deployment_id, sha256: None)
    before = sorted((Path(settings.MEDIA_ROOT) / generated.pdf_path).parent.iterdir())
    doc, created = documentation.documentation_generate(actor=engineer, deployment=recorded)
    assert (doc.pk, created) == (generated.pk, False)
    assert sorted((Path(settings.MEDIA_ROOT) / generated.pdf_path).parent.iterdir()) == before
    assert DeploymentDocumentation.objects.filter(deployment=recorded).count() == 1


def test_an_auditor_may_not_generate_documentation(recorded, auditor):
    with pytest.raises(NotPermitted) as refused:
        documentation.documentation_generate(actor=auditor, deployment=recorded)
    assert refused.value.code == "forbidden"


# User text


def test_template_and_markup_injection_in_free_text_is_printed_literally_and_fetches_nothing(
    recorded, engineer, fetched
):
    system = recorded.ai_system
    for field, value in INJECTIONS.items():
        setattr(system, field, value)
    system.advisor_assessment = {"recommendation": "<img src=file:///etc/passwd>", "rules_fired": []}
    system.save()
    doc, _ = documentation.documentation_generate(actor=engineer, deployment=recorded)
    text = squeezed("\n".join(pdf_pages(stored_pdf(doc))))
    for value in INJECTIONS.values():
        assert squeezed(value) in text
    assert squeezed(settings.SECRET_KEY) not in text
    assert fetched == [CSS_URL]


# Parts


def test_the_training_part_refuses_an_adapter_of_another_ai_system(engineer, base_model, adapter):
    other = AISystemFactory(owner=engineer)
    deployment = Deployment(ai_system=other, base_model=base_model, adapter_version=adapter)
    with pytest.raises(ValidationFailed) as refused:
        training_part.validate(deployment)
    assert refused.value.code == "adapter_of_another_system"


def test_the_training_part_names_the_adapters_training_version(deployment, version):
    uses = training_part.datasets(deployment)
    assert [(u.dataset, u.version, u.role) for u in uses] == [(version.dataset, version, "training")]


def test_without_an_adapter_only_the_base_models_facts_are_stated(engineer, ai_system, base_model):
    bare = Deployment.objects.create(
        ai_system=ai_system, base_model=base_model, environment=Environment.STAGING, requested_by=engineer
    )
    labels = [item["label"] for item in training_part.facts(bare)[2]]
    assert training_part.datasets(bare) == []
    assert "Base model licence" in labels
    assert "Adapter sha256 (of its file manifest)" not in labels
    assert set(training_part.facts(bare)) == {2}


@pytest.fixture
def collection(engineer: Any, ai_system: Any) -> Collection:
    # Rows only: the facts count documents and never read chunks, so no embedding model is loaded.
    collection = Collection.objects.create(
        name="Knowledge base",
        ai_system=ai_system,
        embedding_dimension=384,
        model_max_tokens=256,
        chunk_size=64,
        chunk_overlap=8,
        created_by=engineer,
    )
    for n, (kind, pii) in enumerate(
        [(SourceType.PDF, {"EMAIL": 1}), (SourceType.MD, {}), (SourceType.MD, {})]
    ):
        Document.objects.create(
            collection=collection,
            external_id=f"doc-{n}",
            title=PII_TITLE,
            source=PII_SOURCE if n else "",
            source_type=kind,
            sha256=f"{n:064d}",
            text=PII_TEXT,
            pii_summary=pii,
            status=DocumentStatus.INDEXED,
            chunk_count=3,
        )
    return collection


def test_the_retrieval_part_counts_documents_by_source_type_and_holds_no_personal_data(
    engineer, ai_system, base_model, collection
):
    deployment = Deployment.objects.create(
        ai_system=ai_system,
        base_model=base_model,
        collection=collection,
        environment=Environment.STAGING,
        requested_by=engineer,
    )
    built = documentation.documentation_facts(deployment)
    section2 = next(s for s in built.facts["sections"] if s["number"] == 2)
    by_type = next(i for i in section2["items"] if i["label"] == "Indexed documents by source type")
    facts = {i["label"]: i["value"] for i in section2["items"] if i["kind"] == "fact"}
    assert by_type["rows"] == [["Markdown", 2], ["PDF", 1]]
    assert (facts["Indexed chunks"], facts["Distinct sources"], facts["Embedding dimension"]) == (9, 1, 384)
    dumped = canonical_json(built.facts)
    for personal in (PII_TITLE, PII_TEXT, PII_SOURCE, "Kowalska"):
        assert personal not in dumped
    assert retrieval_part.personal_data(deployment) is True


def test_the_retrieval_part_names_the_systems_knowledge_datasets(engineer, ai_system, base_model, collection):
    knowledge = DatasetFactory(owner=engineer, purpose=DatasetPurpose.KNOWLEDGE)
    knowledge.ai_systems.add(ai_system)
    deployment = Deployment(ai_system=ai_system, base_model=base_model, collection=collection)
    uses = retrieval_part.datasets(deployment)
    assert [(u.dataset, u.version, u.role) for u in uses] == [(knowledge, None, "knowledge")]


def test_the_retrieval_part_refuses_a_collection_of_another_ai_system(engineer, base_model, collection):
    other = AISystemFactory(owner=engineer)
    with pytest.raises(ValidationFailed) as refused:
        retrieval_part.validate(Deployment(ai_system=other, base_model=base_model, collection=collection))
    assert refused.value.code == "collection_of_another_system"


def test_building_the_facts_takes_a_bounded_number_of_queries(
    recorded, collection, django_assert_max_num_queries
):
    Deployment.objects.filter(pk=recorded.pk).update(collection=collection)
    with django_assert_max_num_queries(16):
        documentation.documentation_facts(recorded)
