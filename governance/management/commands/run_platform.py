"""Run the platform: gunicorn, one Celery worker per queue and beat, supervised; print where to go.

With --prepare (what `make run` does) it first collects the static files, migrates and loads the demo,
in this one process where that is a no-op (a second start), so a start pays for one Django set-up
instead of one per step. The demo's first load (a PII scan) and its model (torch) are built in two
child processes at once, so neither library stays in this long-lived supervisor's memory.

gunicorn starts first and the Celery workers and beat once it answers: on two cores, five processes
importing Django at once made the first page wait for all of them.
"""

from __future__ import annotations

import http.client
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from governance import embedded
from governance.services.demo import DEMO_SYSTEM, DEMO_USERS, demo_credentials

logger = logging.getLogger("governance.run_platform")


@dataclass
class Child:
    """One supervised process: its command line, the running process and its recent failures."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    failures: int = 0
    started_at: float = 0.0
    restart_at: float = 0.0


class Supervisor:
    """Starts children, restarts any that dies (logging its exit code), and stops them all on exit."""

    STABLE_AFTER_S = 30.0  # a child that ran this long before dying restarts at once
    MAX_BACKOFF_S = 30.0

    def __init__(
        self, commands: dict[str, list[str]], *, log: Callable[[str], None], env: dict[str, str] | None = None
    ) -> None:
        self.children = [Child(name, argv) for name, argv in commands.items()]
        self.log, self.env, self.stopping = log, env, False

    def start(self, names: Iterable[str] | None = None) -> None:
        """Start the children named (all by default) that are not running yet."""
        wanted = None if names is None else set(names)
        for child in self.children:
            if child.process is None and (wanted is None or child.name in wanted):
                self._spawn(child)

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(child.argv, env=self.env)  # noqa: S603 - fixed argv
        child.started_at = time.monotonic()

    def check(self) -> list[str]:
        """One pass: restart the children that died; returns their names."""
        restarted = []
        now = time.monotonic()
        for child in self.children:
            if child.process is None or self.stopping:
                continue
            code = child.process.poll()
            if code is None:
                continue
            if child.restart_at == 0.0:
                # A child that keeps dying at start (bad config, port taken) backs off instead of spinning.
                quick = now - child.started_at < self.STABLE_AFTER_S
                child.failures = child.failures + 1 if quick else 0
                delay = min(self.MAX_BACKOFF_S, 2.0**child.failures - 1) if quick else 0.0
                child.restart_at = now + delay
                pid = child.process.pid
                self.log(f"{child.name} (pid {pid}) exited with code {code}; restarting in {delay:.0f} s")
            if now >= child.restart_at and not self.stopping:  # a stop signal may land mid-pass
                child.restart_at = 0.0
                self._spawn(child)
                self.log(f"{child.name} restarted (pid {child.process.pid})")
                restarted.append(child.name)
        return restarted

    def install_signal_handlers(self) -> None:
        """SIGINT and SIGTERM end `run()` so that `stop()` ends every child; nothing is restarted after."""
        # Python's default SIGTERM kills the supervisor without `finally`, orphaning its children; and
        # `setsid nohup make run &` inherits SIGINT as ignored, so a group SIGINT ended the children and
        # the supervisor restarted them. Set both explicitly, whatever was inherited.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        # Only a flag: the loop notices it within one interval, and a second signal during `stop()`
        # does not interrupt the orderly shutdown.
        self.stopping = True

    def run(self, *, interval: float = 0.5, until: Callable[[], bool] = lambda: False) -> None:
        """Supervise until `until()` is true or a stop signal arrived."""
        while not self.stopping and not until():
            self.check()
            time.sleep(interval)

    def stop(self, *, timeout: float = 60.0) -> None:
        """SIGTERM every child (workers finish or requeue their task); SIGKILL what is left after timeout."""
        self.stopping = True
        running = [c.process for c in self.children if c.process is not None and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def platform_commands(addr: str) -> dict[str, list[str]]:
    """gunicorn on addr, a worker for `default`, one for `gpu` (training never blocks indexing), beat."""
    celery = [sys.executable, "-m", "celery", "-A", "governance"]
    worker = [*celery, "worker", "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
    return {
        "web": [
            sys.executable,
            "-m",
            "gunicorn",
            "governance.wsgi:application",
            "--bind",
            addr,
            # Bounded: at most workers x threads requests (and database connections) at once; more wait
            # in the listen backlog instead of exhausting PostgreSQL's connections.
            "--workers",
            str(settings.PLATFORM_WEB_WORKERS),
            "--threads",
            str(settings.PLATFORM_WEB_THREADS),
            "--worker-class",
            "gthread",
            "--timeout",
            "120",
            "--graceful-timeout",
            "30",
            # The app is imported once, before the workers fork, instead of once per worker: the first
            # page comes in half the time or less on two cores, and a restarted worker is ready at once.
            # Nothing opens a connection at import (the pool opens on the first query, per worker).
            "--preload",
        ],
        "worker-default": [*worker, "-Q", "default", "--concurrency", "1", "-n", "default@%h"],
        "worker-gpu": [*worker, "-Q", "gpu", "--concurrency", "1", "-n", "gpu@%h"],
        "beat": [
            *celery,
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(embedded.data_dir() / "celerybeat-schedule"),
        ],
    }


def _probe_target(addr: str) -> tuple[str, int] | None:
    """Where to ask whether gunicorn serves addr (a wildcard bind answers on loopback); None: cannot ask."""
    host, _, port = addr.rpartition(":")
    if not port.isdigit() or host.startswith("unix"):
        return None
    host = host.strip("[]")
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host), int(port)  # noqa: S104


def serving(addr: str) -> bool:
    """True once a gunicorn worker answers an HTTP request on addr (any status: the app is loaded)."""
    target = _probe_target(addr)
    if target is None:
        return True
    connection = http.client.HTTPConnection(*target, timeout=5)
    try:
        connection.request("GET", "/admin/login/")
        connection.getresponse().read()
    except OSError:
        return False
    finally:
        connection.close()
    return True


DEMO_BASE_MODEL = "demo-tiny-llama"  # create_demo_base_model's default name


class Command(BaseCommand):
    help = "Run gunicorn, one worker per queue and beat, supervised; stop the embedded services on exit."

    WEB_FIRST_S = 60.0  # the workers and beat start once the web answers, or after this long regardless

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default=os.environ.get("PLATFORM_ADDR", "127.0.0.1:8000"))
        parser.add_argument(
            "--prepare",
            action="store_true",
            help="first collect static files, migrate and load the demo (what `make run` does)",
        )

    def handle(self, *args: Any, addr: str, prepare: bool = False, **options: Any) -> None:
        supervisor = Supervisor(platform_commands(addr), log=self._log)
        # Before the first child exists, so a signal during start-up cannot orphan any of them.
        supervisor.install_signal_handlers()
        try:
            if prepare:
                self._prepare(supervisor)
            if supervisor.stopping:
                return
            supervisor.start(["web"])
            deadline = time.monotonic() + self.WEB_FIRST_S
            supervisor.run(interval=0.2, until=lambda: serving(addr) or time.monotonic() > deadline)
            if supervisor.stopping:
                return
            supervisor.start()
            self._banner(addr)
            supervisor.run()
        finally:
            supervisor.stop()
            self._stop_embedded()

    def _prepare(self, supervisor: Supervisor) -> None:
        """collectstatic, migrate and the demo; each is quick once done, so they run in this process."""
        started = time.monotonic()
        call_command("collectstatic", interactive=False, verbosity=0)
        static_done = time.monotonic()
        call_command("migrate", interactive=False)
        migrate_done = time.monotonic()
        first_time = []
        if self._demo_loaded():
            call_command("load_demo")
        else:
            first_time.append("load_demo")
        if self._demo_model_registered():
            call_command("create_demo_base_model", register=True)
        else:
            first_time.append("create_demo_base_model --register")
        # The pool would count as another client when the embedded services are stopped at exit.
        for connection in connections.all(initialized_only=True):
            connection.close()
            if hasattr(connection, "close_pool"):
                connection.close_pool()
        if first_time:
            self._manage_at_once(first_time, supervisor)
        done = time.monotonic()
        # tests/benchmarks/first_start.py reads this line for its per-step figures.
        self.stdout.write(
            f"prepared in {done - started:.1f} s: collectstatic {static_done - started:.1f} s, "
            f"migrate {migrate_done - static_done:.1f} s, demo {done - migrate_done:.1f} s"
        )

    @staticmethod
    def _demo_loaded() -> bool:
        from governance.models import AISystem

        return AISystem.objects.filter(name=DEMO_SYSTEM).exists()

    @staticmethod
    def _demo_model_registered() -> bool:
        from training import conf
        from training.models import BaseModel

        target = conf.models_root() / DEMO_BASE_MODEL
        registered = BaseModel.objects.filter(name=DEMO_BASE_MODEL).values_list("path", flat=True).first()
        return target.exists() and registered is not None and Path(registered).resolve() == target

    def _manage_at_once(self, commands: list[str], supervisor: Supervisor) -> None:
        """Run `manage.py <command>` for each at the same time; stop them all on a signal or a failure."""
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        running = {
            command: subprocess.Popen([sys.executable, manage, *command.split()])  # noqa: S603 - fixed argv
            for command in commands
        }
        try:
            while running and not supervisor.stopping:
                for command, process in list(running.items()):
                    code = process.poll()
                    if code == 0:
                        del running[command]
                    elif code is not None:
                        raise CommandError(f"manage.py {command} exited with code {code}")
                time.sleep(0.2)
        finally:
            for process in running.values():
                if process.poll() is None:
                    process.terminate()
                    process.wait()

    def _log(self, message: str) -> None:
        logger.warning(message)
        self.stderr.write(message)

    def _stop_embedded(self) -> None:
        if not settings.EMBEDDED_POSTGRES:
            return
        connections.close_all()
        if not (embedded.postgres_dir() / "postmaster.pid").exists():
            # `make stop` (or an operator) stopped PostgreSQL while the platform served: never start it
            # again only to stop it.
            if settings.EMBEDDED_REDIS:
                embedded.stop_redis()
            self.stdout.write("embedded PostgreSQL was already stopped")
            return
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
            "  workers:  one for the default queue, one for gpu, and beat (restarted if they die)",
            "  demo logins (username / password):",
            *[
                f"    {user:10s} {password:16s} {DEMO_USERS.get(user, '')}"
                for user, password in demo_credentials().items()
            ],
            "  stop with Ctrl-C (SIGINT) or SIGTERM",
            "",
        ]
        self.stdout.write("\n".join(lines))
