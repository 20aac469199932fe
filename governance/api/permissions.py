"""Role-based permissions: auditors read, engineers and officers write, officers review."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from governance.roles import AUDITOR, COMPLIANCE_OFFICER, ENGINEER, roles_of

READ_ROLES = (COMPLIANCE_OFFICER, ENGINEER, AUDITOR)
WRITE_ROLES = (COMPLIANCE_OFFICER, ENGINEER)
REVIEW_ROLES = (COMPLIANCE_OFFICER,)


class RolePermission(BasePermission):
    """Views name `read_roles` / `write_roles`; the defaults suit the registers."""

    message = "your role does not allow this"

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if request.method in SAFE_METHODS:
            allowed = getattr(view, "read_roles", READ_ROLES)
        else:
            allowed = getattr(view, "write_roles", WRITE_ROLES)
        return bool(roles_of(request.user) & set(allowed))
