"""Recompute the audit chain and name the first broken sequence number."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.services.audit import audit_verify_chain


class Command(BaseCommand):
    help = "Verify the tamper-evident audit chain; exits non-zero when a link is broken."
    # No system checks: they import the URLconf and with it every view; verifying needs only the models.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--expect-head", help="head hash printed on an earlier report or certificate")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, expect_head: str | None, json: bool, **options: Any) -> None:
        result = audit_verify_chain(expected_head_hash=expect_head)
        if json:
            self.stdout.write(_dumps(result.as_dict()))
        if not result.ok:
            raise CommandError(
                f"audit chain broken at sequence {result.first_broken_sequence}: {result.reason}"
            )
        if not json:
            self.stdout.write(
                f"audit chain intact: {result.events_checked} events, head #{result.head_sequence} "
                f"{result.head_hash}"
            )


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True)
