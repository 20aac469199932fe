"""The erasure certificate: the facts of a completed request, as JSON and as a PDF.

The facts are built from the request row alone (no identifier value is in it), stored on the row and
rendered by the one rendering layer (governance/rendering.py), so the PDF and the JSON state the same
thing and the same facts always give the same bytes.
"""

from __future__ import annotations

from typing import Any

from governance.choices import NameMatchDecision
from governance.models import ErasureRequest
from governance.participants import erasure_participants

TEMPLATE = "reports/erasure_certificate.html"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def facts(request: ErasureRequest) -> dict[str, Any]:
    """What the certificate states; JSON-serialisable, with no identifier value."""
    # Imported here: erasure imports this module lazily, and these constants belong to it.
    from governance.services.erasure import LIMITS, PURGE_METHOD, current_run, store_results

    participants = erasure_participants()
    stores: list[dict[str, Any]] = []
    for name, result in sorted(
        store_results(request).items(),
        key=lambda item: (getattr(participants.get(item[0]), "order", 999), item[0]),
    ):
        counts = dict(result.get("counts", {}))
        declared = list(getattr(participants.get(name), "count_names", ()) or ())
        ordered = declared + sorted(set(counts) - set(declared))
        stores.append(
            {"name": name, "counts": [{"name": c, "value": int(counts.get(c, 0))} for c in ordered]}
        )
    decisions = dict(
        (decision, request.name_matches.filter(decision=decision).count())
        for decision in (NameMatchDecision.CONFIRMED, NameMatchDecision.EXCLUDED)
    )
    verification = request.verification or {}
    return {
        "reference": request.reference,
        "request_id": request.pk,
        "status": request.status,
        "received_at": _iso(request.received_at),
        "due_at": _iso(request.due_at),
        "executed_at": _iso(request.executed_at),
        "runs": current_run(request),
        "erased_at": _iso(request.erased_at),
        "purged_at": _iso(request.purged_at),
        "completed_at": _iso(request.completed_at),
        "identifier_types": dict(sorted(request.identifier_types.items())),
        "stores": stores,
        "nothing_found": not any(c["value"] for store in stores for c in store["counts"]),
        "name_matches": {
            "confirmed": decisions[NameMatchDecision.CONFIRMED],
            "excluded": decisions[NameMatchDecision.EXCLUDED],
        },
        "verification": {
            "ok": bool(verification.get("ok")),
            "stores": {
                name: {"ok": bool(v.get("ok"))} for name, v in sorted(verification.get("stores", {}).items())
            },
        },
        "purge_method": PURGE_METHOD,
        "limits": list(LIMITS),
        "chain_head": {"sequence": request.chain_head_sequence, "hash": request.chain_head_hash},
        "generated_at": _iso(request.completed_at),
    }


def render(facts_: dict[str, Any]) -> bytes:
    from django.utils.dateparse import parse_datetime

    from governance.rendering import render_pdf

    created = parse_datetime(facts_["generated_at"])
    assert created is not None
    return render_pdf(
        TEMPLATE, {"facts": facts_}, title=f"Certificate of erasure {facts_['reference']}", created=created
    )


def render_and_store(request: ErasureRequest, facts_: dict[str, Any]) -> tuple[str, str]:
    """Render the PDF and store it under MEDIA_ROOT; returns (relative path, sha256)."""
    from governance.rendering import store_rendered

    return store_rendered(f"certificates/erasure-{request.pk}.pdf", render(facts_))
