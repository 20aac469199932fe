"""Start a Celery worker (queues default and gpu, with beat) and the web server; print where to go."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections

from governance import embedded
from governance.services.demo import DEMO_USERS, demo_credentials


class Command(BaseCommand):
    help = "Run the platform: worker + web server, then stop the embedded services on exit."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default=os.environ.get("PLATFORM_ADDR", "127.0.0.1:8000"))

    def handle(self, *args: Any, addr: str, **options: Any) -> None:
        worker = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "governance",
                "worker",
                "-B",
                "-Q",
                "default,gpu",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--schedule",
                str(embedded.data_dir() / "celerybeat-schedule"),
            ],
        )
        self._banner(addr)
        try:
            call_command("runserver", addr, use_reloader=False)
        except KeyboardInterrupt:
            pass
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
            self._stop_embedded()

    def _stop_embedded(self) -> None:
        if not settings.EMBEDDED_POSTGRES:
            return
        connections.close_all()
        others = embedded.postgres_clients(embedded.ensure_postgres())
        if others:
            # Another process (a test run, a second shell) still uses the embedded services.
            self.stdout.write(f"embedded services left running: {others} other client(s) connected")
            return
        embedded.stop_postgres()
        if settings.EMBEDDED_REDIS:
            embedded.stop_redis()
        self.stdout.write("embedded PostgreSQL and Redis stopped")

    def _banner(self, addr: str) -> None:
        url = f"http://{addr}"
        lines = [
            "",
            "AI governance platform",
            f"  admin:    {url}/admin/",
            f"  API docs: {url}/api/docs/",
            f"  API:      {url}/api/v1/",
            "  demo logins (username / password):",
            *[
                f"    {user:10s} {password:16s} {DEMO_USERS.get(user, '')}"
                for user, password in demo_credentials().items()
            ],
            "  stop with Ctrl-C",
            "",
        ]
        self.stdout.write("\n".join(lines))
