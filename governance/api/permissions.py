"""The API's permission class: it asks governance/policy.py, like the admin and the services."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from governance.policy import READ, WRITE, allowed


class RolePermission(BasePermission):
    """Views name `policy_resource`; safe methods read, others write, `policy_verbs` maps named actions.

    Anonymous callers are refused before the policy is asked, so DRF answers 401 (TokenAuthentication
    supplies the WWW-Authenticate header) and a logged-in user without the role gets 403. A method the
    route does not offer is judged by the policy's "api" line: whoever may write anywhere learns it is a
    405, everyone else gets the same 403 as for any write.
    """

    message = "your role does not allow this"
    code = "forbidden"  # the same code a service's policy refusal carries

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if not hasattr(view, (request.method or "").lower()):
            return allowed(request.user, "api", READ if request.method in SAFE_METHODS else WRITE)
        return allowed(request.user, resource_of(view), verb_of(request, view))


def resource_of(view: Any) -> str:
    """The policy resource a view declares; a view that declares none is a configuration error."""
    # Imported here: rest_framework.routers imports the views module, which loads this class.
    from rest_framework.routers import APIRootView

    resource = getattr(view, "policy_resource", None)
    if resource is None and isinstance(view, APIRootView):
        return "api"
    if not resource:
        raise ImproperlyConfigured(f"{type(view).__name__} declares no policy_resource")
    return str(resource)


def verb_of(request: Request, view: Any) -> str:
    """The verb of this call: the view's mapping for its action, else read for safe methods, else write."""
    verb = getattr(view, "policy_verbs", {}).get(getattr(view, "action", None))
    if verb is not None:
        return str(verb)
    return READ if request.method in SAFE_METHODS else WRITE
