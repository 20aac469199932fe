"""A small demo: one user per role, an AI system, a scanned dataset with some PII, a draft DPIA."""

from __future__ import annotations

import io
import json
import random
import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from governance import embedded
from governance.choices import Approach, DatasetPurpose, LegalBasis, RiskClass
from governance.models import AISystem
from governance.roles import AUDITOR, COMPLIANCE_OFFICER, ENGINEER
from governance.services import datasets, dpia, scanning, systems

DEMO_SYSTEM = "Customer support assistant (demo)"
DEMO_USERS = {
    "officer": COMPLIANCE_OFFICER,
    "officer2": COMPLIANCE_OFFICER,
    "engineer": ENGINEER,
    "auditor": AUDITOR,
}


def demo_credentials_path() -> Path:
    return embedded.data_dir() / "secrets" / "demo_logins.json"


def demo_credentials() -> dict[str, str]:
    path = demo_credentials_path()
    return json.loads(path.read_text()) if path.exists() else {}


def _ensure_users() -> dict[str, str]:
    """Create the demo users once with random passwords kept (0600) under the data dir."""
    credentials = demo_credentials()
    user_model = get_user_model()
    for username, role in DEMO_USERS.items():
        password = credentials.get(username) or secrets.token_urlsafe(9)
        user, created = user_model.objects.get_or_create(username=username, defaults={"is_staff": True})
        if created or username not in credentials:
            user.set_password(password)
            user.save()
        user.groups.add(Group.objects.get(name=role))
        credentials[username] = password
    path = demo_credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(credentials, indent=2))
    path.chmod(0o600)
    return credentials


def demo_records(count: int, *, seed: int = 7) -> list[dict[str, str]]:
    """Support tickets, some of them carrying names, e-mails, phones and PESEL numbers."""
    rng = random.Random(seed)
    people = [
        ("Anna Nowak", "anna.nowak@example.com", "+48 601 234 567", "44051401458"),
        ("John Smith", "john.smith@example.org", "+44 20 7946 0958", "02070803628"),
    ]
    questions = [
        "How do I reset my password?",
        "Where is my invoice for March?",
        "Can I change the delivery address?",
        "How do I close my account?",
    ]
    answers = [
        "Use the 'Forgot password' link on the sign-in page.",
        "Invoices are under Billing > History.",
        "Yes, until the parcel leaves the warehouse.",
        "Send a request from Settings > Account.",
    ]
    records = []
    for i in range(count):
        k = rng.randrange(len(questions))
        question = f"{questions[k]} (ticket {i})"
        if i % 3 == 0:
            name, email, phone, pesel = rng.choice(people)
            question = f"Hi, I am {name}, e-mail {email}, phone {phone}, PESEL {pesel}. {question}"
        records.append({"input": question, "output": answers[k]})
    return records


def demo_load() -> dict[str, str]:
    """Load the demo once; later calls only make sure the users exist."""
    credentials = _ensure_users()
    if AISystem.objects.filter(name=DEMO_SYSTEM).exists():
        return credentials
    user_model = get_user_model()
    engineer = user_model.objects.get(username="engineer")
    with transaction.atomic():
        system = systems.ai_system_create(
            actor=engineer,
            owner=engineer,
            name=DEMO_SYSTEM,
            intended_purpose="Answers customer questions from the help-centre articles.",
            risk_class=RiskClass.LIMITED,
            approach=Approach.HYBRID,
            human_oversight="Answers below the relevance threshold are handed to a support agent.",
        )
        dataset = datasets.dataset_create(
            actor=engineer,
            owner=engineer,
            name="Support tickets 2026",
            purpose=DatasetPurpose.TRAINING,
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            provenance="Helpdesk export, January-June 2026",
            ai_systems=[system],
        )
    payload = "\n".join(json.dumps(r) for r in demo_records(60)).encode()
    version = datasets.dataset_version_create(
        actor=engineer,
        dataset=dataset,
        stream=io.BytesIO(payload),
        filename="tickets.jsonl",
        size=len(payload),
        reason="initial export",
    )
    datasets.dataset_version_claim_scan(version_id=version.pk)
    scanning.dataset_version_scan(version_id=version.pk)
    dpia.dpia_create(
        actor=engineer,
        ai_system=system,
        datasets=[dataset],
        title="Support assistant DPIA",
        context="Customer tickets are used to fine-tune an assistant that drafts answers.",
    )
    return credentials
