"""Load the demo data once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from governance.services.demo import demo_load


class Command(BaseCommand):
    help = "Create the demo users, AI system, scanned dataset and draft DPIA (only once)."

    def handle(self, *args: Any, **options: Any) -> None:
        credentials = demo_load()
        self.stdout.write(f"demo ready: {len(credentials)} users")
