"""Annex IV technical documentation of a deployment (AI Act Art. 11, DESIGN section 11): facts, PDF, versions.

`documentation_facts` builds the JSON document from the live registers: governance's own facts (the AI
system, datasheets of every dataset behind the deployment, the advisor's assessment, the DPIA) and what
each registered deployment part adds (training: base model, adapter, validation, lineage; retrieval:
the collection). The PDF is rendered from that JSON alone, so both state the same thing. A required
fact the registers lack is printed as MISSING and listed on the first page.

Versions: a change of facts gives a new DeploymentDocumentation row (the old ones stay); the same facts
give back the version that has them. A version's PDF footer carries its creation time, its creator and
the audit chain head read before rendering, all stored on the row, so re-rendering a version gives the
same bytes. The PDF's sha256 and the facts' sha256 go into the audit chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from governance.choices import Approach, DeclarationStatus, LegalBasis, Level, RiskClass
from governance.deployment_gates import datasets_behind, involves_personal_data
from governance.errors import Conflict
from governance.models import DPIA, AISystem, Deployment, DeploymentDocumentation
from governance.models.dpia import RISKS
from governance.participants import DatasetUse, deployment_parts
from governance.policy import WRITE, require
from governance.roles import User, user_or_none
from governance.selectors.registers import dpia_effective_for_system
from governance.services.audit import actor_name, audit_chain_head, audit_record, canonical_json

SCHEMA = "annex-iv/1"
TEMPLATE = "reports/annex_iv.html"
SECTION_TITLES = {
    1: "General description",
    2: "Elements and development process",
    3: "Monitoring, functioning and control",
    4: "Appropriateness of the performance metrics",
    5: "Risk management system",
    6: "Changes over the lifecycle",
    7: "Standards applied",
    8: "EU declaration of conformity",
    9: "Post-market monitoring plan",
}
ROLE_ORDER = {"training": 0, "hold-out": 1, "knowledge": 2}
RISK_LABELS = {
    "illegitimate_access": "Illegitimate access to data",
    "unwanted_modification": "Unwanted modification of data",
    "disappearance": "Disappearance of data",
}
AUDIT_CHAIN = (
    "every change to the registers (AI systems, datasets, DPIAs, models, adapters, deployments, erasure "
    "requests) is recorded in a hash-chained, append-only audit log that can be verified end to end"
)

Item = dict[str, Any]


@dataclass(frozen=True)
class DocumentationFacts:
    """The Annex IV JSON document of a deployment, the required facts it lacks, and its sha256."""

    facts: dict[str, Any]
    missing: list[str]
    sha256: str


@dataclass(frozen=True)
class Footer:
    """What every page's footer states: when, by whom, and the audit chain head at that moment."""

    created: datetime
    creator: str
    chain_sequence: int
    chain_hash: str


def _fact(label: str, value: Any, *, required: bool = False) -> Item:
    return {"kind": "fact", "label": label, "value": value, "required": required}


def _heading(label: str) -> Item:
    return {"kind": "heading", "label": label}


def _table(label: str, columns: list[str], rows: list[list[Any]]) -> Item:
    return {"kind": "table", "label": label, "columns": columns, "rows": rows}


# --- Facts -----------------------------------------------------------------------------------------


def _load(deployment: Deployment) -> Deployment:
    # One query for everything the parts read through the deployment (adapter, job, dataset version).
    return Deployment.objects.select_related(
        "ai_system",
        "base_model",
        "adapter_version__job",
        "adapter_version__dataset_version__dataset",
        "collection",
    ).get(pk=deployment.pk)


def documentation_facts(deployment: Deployment) -> DocumentationFacts:
    """The live Annex IV facts of the deployment; the same registers always give the same facts."""
    deployment = _load(deployment)
    system = deployment.ai_system
    parts = deployment_parts()
    uses = _unique_uses(datasets_behind(deployment))
    personal = involves_personal_data(deployment, uses)
    head: dict[int, list[Item]] = {
        1: _general_items(deployment),
        3: _oversight_items(system),
        4: _metric_items(system),
        5: _risk_items(system, personal),
        7: [_fact("Standards applied", system.standards_applied, required=True)],
        8: _declaration_items(system),
        9: [_fact("Post-market monitoring plan", system.monitoring_plan, required=True)],
    }
    tail: dict[int, list[Item]] = {2: _datasheet_items(uses) + _advisor_items(system.advisor_assessment)}
    contributed = [part.facts(deployment) for part in parts]
    sections = []
    for number, title in SECTION_TITLES.items():
        items = list(head.get(number, []))
        for part_facts in contributed:
            items += part_facts.get(number, [])
        items += tail.get(number, [])
        sections.append({"number": number, "title": title, "items": _normalise_items(items)})
    facts = _normalise({"schema": SCHEMA, "configuration": _configuration(deployment), "sections": sections})
    return DocumentationFacts(facts=facts, missing=missing_facts(facts), sha256=facts_sha256(facts))


def facts_sha256(facts: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(facts).encode()).hexdigest()


def missing_facts(facts: dict[str, Any]) -> list[str]:
    """ "<section>. <label>" of every required fact without a value, in document order, once each."""
    missing: list[str] = []
    for section in facts["sections"]:
        for item in section["items"]:
            if item["kind"] == "fact" and item.get("required") and item["value"] in (None, ""):
                label = f"{section['number']}. {item['label']}"
                if label not in missing:
                    missing.append(label)
    return missing


def _normalise(value: Any) -> Any:
    """JSON values only: trimmed strings (blank is empty), ISO dates; booleans stay for `required`."""
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, str):
        return value.strip()
    if value is None or isinstance(value, bool | int | float):
        return value
    return json.loads(canonical_json(value))  # dates and the like, as their ISO text


def _printable(value: Any) -> Any:
    # A fact's value or a table's cell is printed: a boolean reads as yes or no in both JSON and PDF.
    return ("yes" if value else "no") if isinstance(value, bool) else value


def _normalise_items(items: list[Item]) -> list[Item]:
    out = []
    for item in _normalise(items):
        if item["kind"] == "fact":
            item = {**item, "value": _printable(item.get("value")), "required": bool(item.get("required"))}
        elif item["kind"] == "table":
            item = {**item, "rows": [[_printable(cell) for cell in row] for row in item["rows"]]}
        out.append(item)
    return out


def _configuration(d: Deployment) -> dict[str, Any]:
    """What is deployed, by id and name (never its status or times: approving changes no fact)."""
    adapter, collection = d.adapter_version, d.collection
    return {
        "deployment": d.pk,
        "environment": d.environment,
        "ai_system": {"id": d.ai_system_id, "name": d.ai_system.name},
        "risk_class": d.ai_system.risk_class,
        "base_model": {"id": d.base_model_id, "name": d.base_model.name},
        "adapter_version": None
        if adapter is None
        else {"id": adapter.pk, "name": adapter.name, "sha256": adapter.sha256},
        "collection": None if collection is None else {"id": collection.pk, "name": collection.name},
    }


def _general_items(d: Deployment) -> list[Item]:
    system = d.ai_system
    return [
        _heading("The AI system"),
        _fact("AI system", f"{system.name} (id {system.pk})"),
        _fact("Intended purpose", system.intended_purpose, required=True),
        _fact("Provider", system.provider, required=True),
        _fact("System version", system.system_version, required=True),
        _fact("Risk class (AI Act)", RiskClass(system.risk_class).label),
        _fact("Approach", Approach(system.approach).label),
        _fact("Hardware", system.hardware, required=True),
        _fact("Instructions for use", system.instructions_for_use, required=True),
        _heading("Deployed configuration"),
        _fact("Environment", d.get_environment_display()),
        _fact("Base model", d.base_model.name),
        _fact("Adapter", d.adapter_version.name if d.adapter_version else "none"),
        _fact("Retrieval collection", d.collection.name if d.collection else "none"),
    ]


def _unique_uses(uses: list[DatasetUse]) -> list[DatasetUse]:
    seen: dict[tuple[int, int | None, str], DatasetUse] = {}
    for use in uses:
        seen.setdefault((use.dataset.pk, use.version.pk if use.version else None, use.role), use)
    return sorted(
        seen.values(),
        key=lambda u: (
            ROLE_ORDER.get(u.role, 9),
            u.dataset.name,
            u.dataset.pk,
            u.version.number if u.version else 0,
        ),
    )


def _datasheet_items(uses: list[DatasetUse]) -> list[Item]:
    items: list[Item] = []
    for use in uses:
        dataset, version = use.dataset, use.version
        title = f"{dataset.name} v{version.number}" if version else f"{dataset.name} (as a whole)"
        items += [
            _heading(f"Datasheet: {title}, {use.role}"),
            _fact("Dataset", f"{dataset.name} (id {dataset.pk}), purpose {dataset.get_purpose_display()}"),
            _fact(
                f"Legal basis of dataset {dataset.name}",
                LegalBasis(dataset.legal_basis).label if dataset.legal_basis else None,
                required=True,
            ),
            _fact(f"Provenance of dataset {dataset.name}", dataset.provenance, required=True),
            _fact(
                "Retention until", dataset.retention_until.isoformat() if dataset.retention_until else None
            ),
            _fact(
                "Holds personal data",
                dataset.contains_personal_data or bool(version and version.contains_personal_data),
            ),
        ]
        if version is not None:
            items += _version_items(version)
    return items


def _version_items(version: Any) -> list[Item]:
    train = version.record_count - version.holdout_count
    pii = version.pii_summary or {}
    parent = f"version id {version.parent_id}" if version.parent_id else "none (first version)"
    return [
        _fact("Version", f"v{version.number} (id {version.pk}), {version.get_status_display()}"),
        _fact("sha256 of the stored file", version.sha256, required=True),
        _fact(
            "Records",
            f"{version.record_count} ({version.duplicates_removed} duplicates removed, "
            f"{version.suppressed_records} dropped for erased subjects)",
        ),
        _fact(
            "Split",
            f"{train} train / {version.holdout_count} hold-out "
            f"(fraction {version.holdout_fraction}, seed {version.split_seed}, fixed at upload)",
        ),
        _fact(
            "Personal data found (entity type: records)",
            ", ".join(f"{kind}: {pii[kind]}" for kind in sorted(pii)) or "none found",
        ),
        _fact("Parent version", parent),
        _fact("Reason for this version", version.reason or "upload"),
    ]


def _advisor_items(assessment: dict[str, Any]) -> list[Item]:
    items = [_heading("Use-case assessment (advisor)")]
    if not isinstance(assessment, dict) or not assessment:
        return [*items, _fact("Assessment", "not assessed")]
    # Read defensively: the JSON is stored as the advisor wrote it, in whatever shape its version had.
    costs = _mapping(assessment.get("costs"))
    break_even = _mapping(_mapping(assessment.get("break_even")).get("months"))
    fired = assessment.get("rules_fired")
    rules: list[Any] = fired if isinstance(fired, list) else []
    return [
        *items,
        _fact("Recommended approach", assessment.get("recommendation")),
        _fact("Cost basis", assessment.get("cost_basis")),
        _table(
            "Rules that fired",
            ["Rule", "Kind", "Finding"],
            [[r.get("id"), r.get("kind"), r.get("text")] for r in rules if isinstance(r, dict)],
        ),
        _table(
            "Cost of each approach over the horizon",
            ["Approach", "Total cost", "Break-even month against prompting"],
            [[name, _total(costs[name]), break_even.get(name, "baseline")] for name in sorted(costs)],
        ),
    ]


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _total(cost: Any) -> Any:
    return cost.get("total") if isinstance(cost, dict) else cost


def _oversight_items(system: AISystem) -> list[Item]:
    return [
        _heading("Human oversight and logging"),
        _fact("Human oversight measures", system.human_oversight, required=True),
        _fact("Audit chain (AI Act Art. 12)", AUDIT_CHAIN),
    ]


def _metric_items(system: AISystem) -> list[Item]:
    return [
        _fact("Why these metrics fit the intended purpose", system.metrics_rationale, required=True),
        _fact("Pass threshold of the AI system", system.evaluation_threshold),
    ]


def _risk_items(system: AISystem, personal: bool) -> list[Item]:
    items = [_fact("Personal data involved", personal)]
    dpia = dpia_effective_for_system(system)
    if dpia is None:
        value = None if personal else "none approved; no personal data is involved"
        return [*items, _fact("Data protection impact assessment", value, required=personal)]
    return items + _dpia_items(dpia)


def _dpia_items(dpia: DPIA) -> list[Item]:
    approved = dpia.approved_at.date() if dpia.approved_at else None
    items = [
        _fact(
            "Data protection impact assessment",
            f"{dpia.title} (id {dpia.pk}), approved {approved}, review due {dpia.review_due}",
            required=True,
        )
    ]
    for risk in RISKS:
        for axis in ("likelihood", "severity"):
            level = getattr(dpia, f"{risk}_{axis}")
            items.append(
                _fact(f"{RISK_LABELS[risk]}: {axis}", Level(level).label if level else None, required=True)
            )
    return [
        *items,
        _fact("Planned measures", dpia.planned_measures, required=True),
        _fact("DPO opinion", dpia.dpo_opinion),
    ]


def _declaration_items(system: AISystem) -> list[Item]:
    needed = system.declaration_status != DeclarationStatus.NOT_REQUIRED
    return [
        _fact("Status", DeclarationStatus(system.declaration_status).label),
        _fact(
            "Reference of the declaration",
            system.declaration_reference or (None if needed else "not required"),
            required=needed,
        ),
    ]


# --- Rendering -------------------------------------------------------------------------------------


def _blocks(items: list[Item]) -> list[dict[str, Any]]:
    """Consecutive facts become one two-column table; headings and tables stand alone."""
    blocks: list[dict[str, Any]] = []
    for item in items:
        if item["kind"] == "fact":
            if not blocks or blocks[-1]["kind"] != "facts":
                blocks.append({"kind": "facts", "rows": []})
            blocks[-1]["rows"].append(item)
        else:
            blocks.append(item)
    return blocks


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def documentation_pdf_bytes(facts: dict[str, Any], *, footer: Footer) -> bytes:
    """The PDF of these facts with this footer; the same arguments always give the same bytes."""
    from governance.rendering import render_pdf

    config = facts["configuration"]
    sections = [{**section, "blocks": _blocks(section["items"])} for section in facts["sections"]]
    context = {
        "facts": facts,
        "sections": sections,
        "missing": missing_facts(facts),
        "facts_sha256": facts_sha256(facts),
        "footer": {
            "created": _utc(footer.created),
            "creator": footer.creator,
            "chain_sequence": footer.chain_sequence,
            "chain_hash": footer.chain_hash,
        },
    }
    title = (
        f"Annex IV technical documentation: {config['ai_system']['name']}, deployment {config['deployment']}"
    )
    return render_pdf(TEMPLATE, context, title=title, created=footer.created)


def documentation_footer(doc: DeploymentDocumentation) -> Footer:
    """The footer a stored version was rendered with."""
    return Footer(doc.created_at, _creator(doc.created_by), doc.chain_head_sequence, doc.chain_head_hash)


def _creator(user: User | None) -> str:
    # Named as the audit chain names actors: a username that is an e-mail address becomes user#<id>.
    return actor_name(user_or_none(user))


def documentation_rerender(doc: DeploymentDocumentation) -> bytes:
    """The stored version rendered again: byte-identical to its stored PDF."""
    return documentation_pdf_bytes(doc.facts, footer=documentation_footer(doc))


# --- Versions --------------------------------------------------------------------------------------


def documentation_current(deployment: Deployment) -> DeploymentDocumentation | None:
    """The stored version whose facts are the deployment's live facts, if one was generated."""
    sha256 = documentation_facts(deployment).sha256
    return DeploymentDocumentation.objects.filter(deployment_id=deployment.pk, facts_sha256=sha256).first()


def documentation_generate(*, actor: User, deployment: Deployment) -> tuple[DeploymentDocumentation, bool]:
    """The version of the live facts: the existing one (False), or a new one rendered and stored (True)."""
    require(actor, "deployment", WRITE)
    built = documentation_facts(deployment)
    existing = _version_with(deployment.pk, built.sha256)
    if existing is not None:
        return existing, False
    user = user_or_none(actor)
    sequence, chain_hash = audit_chain_head()
    # Whole seconds: the footer, the PDF dates and the stored row then state the same instant.
    footer = Footer(
        timezone.now().replace(microsecond=0),
        str(user.get_username()) if user else "system",
        sequence,
        chain_hash,
    )
    # Rendering takes a second or so: outside any transaction, so no lock is held while it runs.
    pdf = documentation_pdf_bytes(built.facts, footer=footer)
    pdf_sha256 = hashlib.sha256(pdf).hexdigest()
    from governance.rendering import store_rendered

    # Named by both hashes: a concurrent render of the same facts (other footer, other bytes) never
    # overwrites the file a stored version points at.
    path, _ = store_rendered(
        f"documentation/deployment-{deployment.pk}/{built.sha256[:12]}-{pdf_sha256[:12]}.pdf", pdf
    )
    try:
        doc, created = _record(actor, deployment.pk, built, footer, path, pdf_sha256, len(pdf))
    except IntegrityError:
        # A concurrent generate of the same facts committed first: it is the version of these facts.
        doc, created = (
            DeploymentDocumentation.objects.get(deployment_id=deployment.pk, facts_sha256=built.sha256),
            False,
        )
    if not created and doc.pdf_path != path:
        (Path(settings.MEDIA_ROOT) / path).unlink(missing_ok=True)
    return doc, created


def _version_with(deployment_id: int, sha256: str) -> DeploymentDocumentation | None:
    return DeploymentDocumentation.objects.filter(deployment_id=deployment_id, facts_sha256=sha256).first()


@transaction.atomic
def _record(
    actor: User,
    deployment_id: int,
    built: DocumentationFacts,
    footer: Footer,
    path: str,
    pdf_sha256: str,
    size: int,
) -> tuple[DeploymentDocumentation, bool]:
    # The deployment's row lock serialises version numbers (and identical concurrent generates).
    deployment = Deployment.objects.select_for_update().get(pk=deployment_id)
    existing = _version_with(deployment_id, built.sha256)
    if existing is not None:
        return existing, False
    last = deployment.documentation_versions.aggregate(last=Max("version"))["last"] or 0
    doc = DeploymentDocumentation.objects.create(
        deployment=deployment,
        version=last + 1,
        facts=built.facts,
        facts_sha256=built.sha256,
        missing=built.missing,
        pdf_path=path,
        pdf_sha256=pdf_sha256,
        pdf_size=size,
        chain_head_sequence=footer.chain_sequence,
        chain_head_hash=footer.chain_hash,
        created_at=footer.created,
        created_by=user_or_none(actor),
    )
    audit_record(
        actor=actor,
        action="deployment.documentation_generated",
        obj=deployment,
        payload={
            "version": doc.version,
            "facts_sha256": doc.facts_sha256,
            "pdf_sha256": doc.pdf_sha256,
            "missing": len(doc.missing),
        },
    )
    return doc, True


def documentation_pdf_path(doc: DeploymentDocumentation) -> Path:
    """The stored PDF of a version, after checking it still has the sha256 recorded for it."""
    path = Path(settings.MEDIA_ROOT) / doc.pdf_path
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        raise Conflict(
            f"the PDF of documentation version {doc.version} is missing from storage",
            code="documentation_file_missing",
        ) from None
    if digest.hexdigest() != doc.pdf_sha256:
        raise Conflict(
            f"the PDF of documentation version {doc.version} differs from its recorded sha256",
            code="documentation_file_modified",
        )
    return path
