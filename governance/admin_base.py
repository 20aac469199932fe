"""The admin's base classes: every page and action asks governance/policy.py, as the API does.

The admin site itself still needs `is_staff` to log in; what a staff user then sees and does is decided
by their role, never by Django's per-model permissions. Actions declare policy verbs:
`@admin.action(permissions=["review"])` makes Django call `has_review_permission`, which asks the policy.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin
from django.http import HttpRequest

from governance.policy import DOWNLOAD, READ, REVIEW, WRITE, allowed


class PolicyMixin:
    """Permission hooks shared by model admins and inlines; `policy_resource` names the policy line."""

    policy_resource: ClassVar[str] = ""
    # Whether the page offers adding or editing at all (some rows only arrive through the API or the
    # worker); when it does, the policy's write verb decides who may.
    offers_add: ClassVar[bool] = True
    offers_change: ClassVar[bool] = True

    def _may(self, request: HttpRequest, verb: str) -> bool:
        return allowed(request.user, self.policy_resource, verb)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may(request, READ)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request, READ)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self.offers_add and self._may(request, WRITE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.offers_change and self._may(request, WRITE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # registers keep their history: retire, taint or delete through a service action

    def has_write_permission(self, request: HttpRequest) -> bool:
        return self._may(request, WRITE)

    def has_review_permission(self, request: HttpRequest) -> bool:
        return self._may(request, REVIEW)

    def has_download_permission(self, request: HttpRequest) -> bool:
        return self._may(request, DOWNLOAD)


class PolicyAdmin(PolicyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Base of every ModelAdmin in governance, retrieval and training."""


class PolicyTabularInline(PolicyMixin, admin.TabularInline):  # type: ignore[type-arg]
    """Read-only rows shown inside a parent page (versions of a dataset, events of a job)."""

    offers_add = False
    offers_change = False
    extra = 0
    can_delete = False
