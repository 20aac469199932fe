"""The answers API, mounted under /api/v1/ by governance (governance/participants.py)."""
