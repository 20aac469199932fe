"""The three roles and who holds them; what each may do is governance/policy.py."""

from __future__ import annotations

from typing import Any

COMPLIANCE_OFFICER = "compliance_officer"
ENGINEER = "engineer"
AUDITOR = "auditor"
ROLES = (COMPLIANCE_OFFICER, ENGINEER, AUDITOR)

# The acting user as views hand it over: a User, an AnonymousUser, or None for system tasks. Typed as
# Any because django-stubs types request.user as AbstractBaseUser, which lacks `groups`.
User = Any


def user_or_none(actor: User | None) -> Any:
    """The user to store in created_by-style columns: None for anonymous callers and system tasks."""
    return actor if actor is not None and actor.is_authenticated else None


def roles_of(user: User | None) -> set[str]:
    """The role groups a user belongs to (superusers hold every role)."""
    if user is None or not user.is_authenticated:
        return set()
    if getattr(user, "is_superuser", False):
        return set(ROLES)
    cached = getattr(user, "_role_cache", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._role_cache = cached
    return cached


def has_role(user: User | None, *roles: str) -> bool:
    return bool(roles_of(user) & set(roles))
