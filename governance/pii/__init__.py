"""PII detection and subject keys (DESIGN section 6): presidio finds identifiers, HMAC keys name them."""

from __future__ import annotations

from governance.pii.engine import ENTITY_TYPES, mask_text, scan_text, scan_texts, warm_up
from governance.pii.keys import KEY_TYPES, key_type_for, normalise, subject_key
from governance.pii.results import Finding, ScanResult

__all__ = [
    "ENTITY_TYPES",
    "KEY_TYPES",
    "Finding",
    "ScanResult",
    "key_type_for",
    "mask_text",
    "normalise",
    "scan_text",
    "scan_texts",
    "subject_key",
    "warm_up",
]
