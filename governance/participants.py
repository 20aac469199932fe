"""Where retrieval and training plug into governance without governance importing them.

Apps register in their `AppConfig.ready()` (the way models register with the admin): API route
modules, erasure participants (DESIGN section 9), gate checks (section 8) and deployment parts
(sections 4 and 11: what an adapter or a collection adds to a deployment's gates and documentation).
Governance calls what is registered and never names the other apps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

_api_routes: list[str] = []
_erasure: dict[str, ErasureParticipant] = {}
_deployment_parts: dict[str, DeploymentPart] = {}


class ParticipantNotReady(Exception):
    """A store cannot be erased yet (a dataset version still being scanned has keys nobody knows yet).

    Raised by find or erase; the orchestrator retries the request's logical phase later. The message
    names ids and states only, never content.
    """


@dataclass(frozen=True)
class ErasureScope:
    """What one erasure request asks of a participant.

    An item (document, chunk, query log row, dataset record) is the subject's when it carries one of
    `keys`, or when it carries one of `name_keys` and the officer confirmed it ((kind, id) in
    `confirmed`). A name key alone never erases: `find` lists such items as `name_only` instead.
    `identifiers` holds the raw values, in memory only, for the text search of `verify`; it is empty
    in every other call and is never logged (kept out of repr).
    """

    request_id: int
    reference: str
    keys: tuple[str, ...]
    name_keys: tuple[str, ...] = ()
    confirmed: frozenset[tuple[str, int]] = frozenset()
    identifiers: tuple[str, ...] = field(default=(), repr=False)

    def confirmed_ids(self, kind: str) -> list[int]:
        """The ids of the name-only items of one kind the officer confirmed."""
        return sorted(object_id for item_kind, object_id in self.confirmed if item_kind == kind)


@dataclass(frozen=True)
class NameOnlyMatch:
    """An item carrying a name key of the subject and none of their other keys."""

    kind: str
    object_id: int
    label: str  # where it is (collection, dataset version), never its content


@dataclass(frozen=True)
class ErasureParticipant:
    """The functions an erasure request calls on one store, each idempotent and resumable.

    - find(scope) -> {"counts": {name: int}, "name_only": [NameOnlyMatch, ...]}: reads only.
    - erase(scope) -> {"counts": {name: int}, ...}: the logical phase. After it no read path of the
      store returns the subject's items. Run twice, the second run's counts are all zero. The
      orchestrator runs it inside a transaction together with recording its result, so a crash
      half-way leaves nothing half-done.
    - purge(scope, erased) -> dict: the physical phase, given erase's result (VACUUM, file deletion,
      index rebuilds, statistics). Runs outside any transaction.
    - verify(scope) -> {"ok": bool, ...}: nothing of the subject is left, by keys and (with
      scope.identifiers) by text. A field it cannot search makes it say ok: False, never True.
    - export(scope) -> {"items": [item, ...], "processing": [context, ...]}: reads only; what the store
      holds about the subject for an access (Art. 15) or portability (Art. 20) request. The subject's
      items are chosen exactly as erase chooses them (a key, or a name key the officer confirmed).
      An item is a JSON object with "kind" (document, chunk, dataset_record, query_log, answer,
      adapter ...), "id", "portable" (true for data the subject provided or that was observed about
      them, which an Art. 20 package carries; false for what the platform derived, such as an
      adapter's lineage) and the item's own fields (its text or record included). A context is a JSON
      object describing one register the items sit in (see SubjectContext in governance/services/
      subject_access.py): the Art. 15(1) facts of purpose, legal basis, retention and recipients.
      None where a store holds nothing personal.
    `order` decides the sequence (lower first): datasets before training, which taints adapters by the
    record hashes the dataset participant leaves in place.
    """

    name: str
    find: Callable[[ErasureScope], dict[str, Any]]
    erase: Callable[[ErasureScope], dict[str, Any]]
    purge: Callable[[ErasureScope, dict[str, Any]], dict[str, Any]]
    verify: Callable[[ErasureScope], dict[str, Any]]
    order: int = 100
    # The count names this store reports, in the order the certificate prints them.
    count_names: Sequence[str] = ()
    export: Callable[[ErasureScope], dict[str, Any]] | None = None


@dataclass(frozen=True)
class DatasetUse:
    """A dataset behind a deployed part: the adapter's training data and hold-out, a collection's sources.

    `version` is None where the part uses the dataset as a whole (a collection fed from a knowledge
    dataset). `role` is "training", "hold-out" or "knowledge".
    """

    dataset: Any  # governance.models.Dataset
    version: Any | None  # governance.models.DatasetVersion
    role: str


@dataclass(frozen=True)
class DeploymentPart:
    """What an app contributes to a deployment (DESIGN sections 4 and 11), without governance naming it.

    - validate(deployment): raise governance.errors.ValidationFailed when the app's part of an unsaved
      deployment does not fit it (an adapter of another AI system, a collection of another system).
    - datasets(deployment) -> [DatasetUse]: the datasets behind the part (legal-basis and DPIA gates,
      the Annex IV datasheets).
    - personal_data(deployment) -> bool: whether the part holds personal data beyond its datasets'
      flags (documents of a collection with PII found in them).
    - facts(deployment) -> {section number: [item, ...]}: the part's Annex IV facts. An item is a JSON
      object: {"kind": "fact", "label", "value", "required"} (a required fact whose value is None or ""
      is MISSING) or {"kind": "table", "label", "columns": [...], "rows": [[...], ...]}. Items carry
      no time of generation and list rows in a fixed order: the same registers give the same facts.
    Gates of the part register in the "deployment" scope of governance.gates with the Deployment as
    subject.
    """

    name: str
    validate: Callable[[Any], None]
    datasets: Callable[[Any], list[DatasetUse]]
    personal_data: Callable[[Any], bool]
    facts: Callable[[Any], dict[int, list[dict[str, Any]]]]
    order: int = 100


def register_deployment_part(part: DeploymentPart) -> None:
    _deployment_parts[part.name] = part


def deployment_parts() -> list[DeploymentPart]:
    """Every registered part, in the order their facts appear within a section."""
    return sorted(_deployment_parts.values(), key=lambda part: (part.order, part.name))


def register_api_routes(module: str) -> None:
    """Mount `module`'s urlpatterns under /api/v1/."""
    if module not in _api_routes:
        _api_routes.append(module)


def api_routes() -> list[str]:
    return list(_api_routes)


def register_erasure_participant(participant: ErasureParticipant) -> None:
    _erasure[participant.name] = participant


def erasure_participants() -> dict[str, ErasureParticipant]:
    """Every registered participant, in the order a request runs them."""
    return dict(sorted(_erasure.items(), key=lambda item: (item[1].order, item[0])))
