"""A small demo: one user per role, an AI system, a scanned dataset with some PII, a DPIA in review."""

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
from governance.choices import Approach, DatasetPurpose, LegalBasis, Level, RiskClass
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
        # An address, so the retention notices reach the demo officers (files under .data/mail/).
        email = f"{username}@example.org"
        if created or username not in credentials or not user.email:
            user.set_password(password)
            user.email = user.email or email
            user.save()
        user.groups.add(Group.objects.get(name=role))
        credentials[username] = password
    path = demo_credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(credentials, indent=2))
    path.chmod(0o600)
    return credentials


# A ticket-routing task: each ticket names its topic in a few words and the answer is one of four labels,
# so a few epochs of the tiny demo model learn it and accuracy against the untrained base is measurable.
DEMO_LABELS = {
    "billing": [
        "My invoice for {m} is wrong",
        "I was charged twice in {m}",
        "Where is my invoice from {m}?",
        "Please refund the payment from {m}",
    ],
    "delivery": [
        "The parcel from {m} never arrived",
        "Can I change the delivery address for the {m} order?",
        "The courier lost my {m} parcel",
    ],
    "account": [
        "I cannot log in since {m}",
        "How do I reset my password? It expired in {m}",
        "Please close my account, opened in {m}",
    ],
    "technical": [
        "The app crashes when I open it since {m}",
        "The page shows an error since {m}",
        "The upload button does nothing since {m}",
    ],
}
MONTHS = ["January", "February", "March", "April", "May", "June"]
DEMO_RECORD_COUNT = 160


def demo_records(count: int = DEMO_RECORD_COUNT, *, seed: int = 7) -> list[dict[str, str]]:
    """Support tickets labelled with their queue; every third carries a name, e-mail, phone and PESEL."""
    rng = random.Random(seed)
    people = [
        ("Anna Nowak", "anna.nowak@example.com", "+48 601 234 567", "44051401458"),
        ("John Smith", "john.smith@example.org", "+44 20 7946 0958", "02070803628"),
    ]
    records = []
    for i in range(count):
        label = rng.choice(sorted(DEMO_LABELS))
        ticket = rng.choice(DEMO_LABELS[label]).format(m=rng.choice(MONTHS))
        if i % 3 == 0:
            name, email, phone, pesel = rng.choice(people)
            ticket = f"I am {name}, {email}, {phone}, PESEL {pesel}. {ticket}"
        records.append({"input": f"Ticket {i}: {ticket}. Queue?", "output": label})
    return records


DEMO_DPIA = {
    "title": "Support assistant DPIA",
    "context": (
        "Helpdesk tickets (January-June 2026) fine-tune an assistant that routes new tickets to the "
        "billing, delivery, account or technical queue. Tickets may name the customer and carry e-mail "
        "addresses, phone numbers and PESEL numbers. Kept until the end of 2027; processed on our own GPUs."
    ),
    "necessity_proportionality": (
        "Routing by hand delays answers by a day. Only the ticket text and its queue are used; "
        "identifiers are not needed for routing and are flagged by the PII scan for removal."
    ),
    "data_subject_rights": (
        "Customers are told in the privacy notice; an erasure request removes their tickets from every "
        "dataset version, index and adapter trained on them."
    ),
    "illegitimate_access_likelihood": Level.LIMITED,
    "illegitimate_access_severity": Level.SIGNIFICANT,
    "unwanted_modification_likelihood": Level.NEGLIGIBLE,
    "unwanted_modification_severity": Level.LIMITED,
    "disappearance_likelihood": Level.NEGLIGIBLE,
    "disappearance_severity": Level.LIMITED,
    "planned_measures": (
        "Role-based access, an append-only audit chain, a hold-out evaluation before any adapter is "
        "approved, and a human agent for every ticket the assistant is unsure about."
    ),
}


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
    payload = "\n".join(json.dumps(r) for r in demo_records()).encode()
    version = datasets.dataset_version_create(
        actor=engineer,
        dataset=dataset,
        stream=io.BytesIO(payload),
        filename="tickets.jsonl",
        size=len(payload),
        reason="initial export",
    )
    scanning.dataset_version_claim_scan(version_id=version.pk)
    scanning.dataset_version_scan(version_id=version.pk)
    # Filled in and submitted by its author, so what a new user finds is a DPIA waiting for an officer.
    record = dpia.dpia_create(actor=engineer, ai_system=system, datasets=[dataset], **DEMO_DPIA)
    dpia.dpia_submit(actor=engineer, dpia=record)
    return credentials
