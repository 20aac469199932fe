"""factory_boy factories for the registers."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from governance.choices import DatasetPurpose, LegalBasis
from governance.models import DPIA, AISystem, Dataset


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "a-long-test-password")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        if create and extracted:
            # get_or_create: a transactional test's flush empties the groups the migration made.
            self.groups.add(Group.objects.get_or_create(name=extracted)[0])
        if create:
            self.save()


class AISystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AISystem

    name = factory.Sequence(lambda n: f"System {n}")
    owner = factory.SubFactory(UserFactory)
    intended_purpose = "Answers customer questions"


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    name = factory.Sequence(lambda n: f"Dataset {n}")
    owner = factory.SubFactory(UserFactory)
    purpose = DatasetPurpose.TRAINING
    legal_basis = LegalBasis.LEGITIMATE_INTERESTS


class DPIAFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DPIA

    title = factory.Sequence(lambda n: f"DPIA {n}")
    ai_system = factory.SubFactory(AISystemFactory)
    created_by = factory.SubFactory(UserFactory)
    context = "Tickets are used to fine-tune an assistant."
    necessity_proportionality = "Only tickets from the last six months."
    data_subject_rights = "Erasure through the platform."
    illegitimate_access_likelihood = "limited"
    illegitimate_access_severity = "significant"
    unwanted_modification_likelihood = "negligible"
    unwanted_modification_severity = "limited"
    disappearance_likelihood = "negligible"
    disappearance_severity = "limited"
    planned_measures = "Encryption at rest, access by role."
