"""The three roles and what each may do."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

COMPLIANCE_OFFICER = "compliance_officer"
ENGINEER = "engineer"
AUDITOR = "auditor"
ROLES = (COMPLIANCE_OFFICER, ENGINEER, AUDITOR)

User = AbstractBaseUser | AnonymousUser


def roles_of(user: User | None) -> set[str]:
    """The role groups a user belongs to (superusers hold every role)."""
    if user is None or not user.is_authenticated:
        return set()
    if getattr(user, "is_superuser", False):
        return set(ROLES)
    cached = getattr(user, "_role_cache", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))  # type: ignore[union-attr]
        user._role_cache = cached  # type: ignore[union-attr]
    return cached


def has_role(user: User | None, *roles: str) -> bool:
    return bool(roles_of(user) & set(roles))


def can_write_registers(user: User | None) -> bool:
    """Engineers and compliance officers create systems, datasets and versions; auditors never write."""
    return has_role(user, ENGINEER, COMPLIANCE_OFFICER)


def can_review(user: User | None) -> bool:
    """Only compliance officers review DPIAs (and later approve adapters and deployments)."""
    return has_role(user, COMPLIANCE_OFFICER)
