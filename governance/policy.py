"""The one authorisation policy: which roles may read, write, review and download each resource.

The API's `RolePermission`, every admin class (governance/admin_base.py) and every status-changing
service ask this table; tests/governance/test_permissions_matrix.py walks the API and the admin from it.

- read: list and open rows (API GET, admin changelist and change page).
- write: create, edit, submit, cancel, delete a document (API POST/PATCH/DELETE, admin add and save).
- review: decisions a compliance officer takes: approve or reject a DPIA; approve, retire or taint an
  adapter; taint a base model; change an AI system's risk class or status.
- download: take a copy of adapter weights, a deployment's documentation or a report. Auditors see
  lineage, hashes and scores but not the weights: an adapter can memorise its training records, so
  the weights are treated as personal data.

An actor of None is the platform itself (a Celery task, a management command, the beat schedule):
it is always allowed, because it only carries out what an allowed person or the schedule started.
"""

from __future__ import annotations

from typing import Any

from governance.errors import NotPermitted
from governance.roles import AUDITOR, COMPLIANCE_OFFICER, ENGINEER, roles_of

READ = "read"
WRITE = "write"
REVIEW = "review"
DOWNLOAD = "download"
VERBS = (READ, WRITE, REVIEW, DOWNLOAD)

_ALL = frozenset({COMPLIANCE_OFFICER, ENGINEER, AUDITOR})
_WRITERS = frozenset({COMPLIANCE_OFFICER, ENGINEER})
_OFFICERS = frozenset({COMPLIANCE_OFFICER})
_OVERSIGHT = frozenset({COMPLIANCE_OFFICER, AUDITOR})
_NOBODY: frozenset[str] = frozenset()


def _line(
    read: frozenset[str],
    write: frozenset[str] = _NOBODY,
    review: frozenset[str] = _NOBODY,
    download: frozenset[str] = _NOBODY,
) -> dict[str, frozenset[str]]:
    return {READ: read, WRITE: write, REVIEW: review, DOWNLOAD: download}


# One line per resource; every verb is spelled out so "nobody" is a decision, not an omission.
# fmt: off
POLICY: dict[str, dict[str, frozenset[str]]] = {
    "api":             _line(read=_ALL, write=_WRITERS),  # the root, and methods a route does not offer
    "ai_system":       _line(read=_ALL, write=_WRITERS, review=_OFFICERS),
    "dataset":         _line(read=_ALL, write=_WRITERS),
    "dataset_version": _line(read=_ALL, write=_WRITERS),
    "dpia":            _line(read=_ALL, write=_WRITERS, review=_OFFICERS),
    "audit_event":     _line(read=_ALL),
    "collection":      _line(read=_ALL, write=_WRITERS),  # a query is a read (and is logged)
    "document":        _line(read=_ALL, write=_WRITERS),
    "query_log":       _line(read=_OVERSIGHT),  # Art. 12: not engineers
    "base_model":      _line(read=_ALL, write=_WRITERS, review=_OFFICERS),
    "fine_tune_job":   _line(read=_ALL, write=_WRITERS),
    "fine_tune_event": _line(read=_ALL),
    "adapter":         _line(read=_ALL, review=_OFFICERS, download=_WRITERS),
    "evaluation":      _line(read=_ALL, write=_WRITERS),
    # Erasure requests name a data subject: engineers get 403 on all of it. Officers receive, decide on
    # name matches and execute (write), reject, hold and extend (review); auditors read and download
    # certificates.
    "erasure_request": _line(read=_OVERSIGHT, write=_OFFICERS, review=_OFFICERS, download=_OVERSIGHT),
    "suppression":     _line(read=_OVERSIGHT, review=_OFFICERS),
    # Engineers and officers request deployments; only an officer (never the requester) approves,
    # activates, retires or unblocks one. Everybody reads and downloads its Annex IV documentation.
    "deployment":      _line(read=_ALL, write=_WRITERS, review=_OFFICERS, download=_ALL),
    # Answers of active deployments: writers ask and give feedback (and version prompt templates); the
    # Art. 12 answer records are read by officers and auditors only; an officer queues a retrain.
    "answer":          _line(read=_OVERSIGHT, write=_WRITERS, review=_OFFICERS),
    # Retention: officers record and lift legal holds; officers and auditors read holds and the report.
    "retention":       _line(read=_OVERSIGHT, write=_OFFICERS, download=_OVERSIGHT),
    # Audit, DPIA and Art. 30 reports: what officers and auditors take away.
    "report":          _line(read=_OVERSIGHT, download=_OVERSIGHT),
}
# fmt: on


def roles_allowed(resource: str, verb: str) -> frozenset[str]:
    """The roles the policy grants `verb` on `resource`; an unknown resource or verb is a bug."""
    try:
        return POLICY[resource][verb]
    except KeyError:
        raise LookupError(f"the policy has no line for {resource!r} / {verb!r}") from None


def allowed(user: Any, resource: str, verb: str) -> bool:
    """Whether a person may do `verb` on `resource`. None is the platform itself and always may."""
    granted = roles_allowed(resource, verb)
    if user is None:
        return True
    if not user.is_authenticated or not getattr(user, "is_active", True):
        return False
    return bool(roles_of(user) & granted)


def require(actor: Any, resource: str, verb: str) -> None:
    """Raise NotPermitted (403 `forbidden`) unless the actor may do `verb` on `resource`."""
    if not allowed(actor, resource, verb):
        roles = sorted(roles_allowed(resource, verb))
        raise NotPermitted(
            f"your role does not allow this: {verb} on {resource} is for {', '.join(roles) or 'nobody'}",
            code="forbidden",
            details={"resource": resource, "verb": verb, "roles": roles},
        )
