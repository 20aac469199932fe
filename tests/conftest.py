"""Shared fixtures: users per role, API clients, and a real Celery worker on the real broker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db.models import Model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from governance import embedded
from governance.roles import AUDITOR, COMPLIANCE_OFFICER, ENGINEER
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
M = TypeVar("M", bound=Model)

# Importing settings starts nothing (pytest-django imported them before this file); start the embedded
# PostgreSQL and Redis now, before any test touches them. `make test` has started them already.
embedded.start_services()
if settings.EMBEDDED_POSTGRES:
    # A server started just now may have put its socket elsewhere (a data dir path too long for one).
    settings.DATABASES["default"]["HOST"] = embedded.postgres_uri().rsplit("?host=", 1)[1]

# Their BEFORE TRUNCATE triggers (migration 0003) refuse the TRUNCATE pytest-django empties tables with.
AUDIT_TRUNCATE_TRIGGERS = {
    "governance_auditevent": "governance_auditevent_no_truncate",
    "governance_auditchainhead": "governance_auditchainhead_no_truncate",
}


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> None:
    """The test database, with the audit tables' TRUNCATE guard disabled there only (README: Tests)."""
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        for table, trigger in AUDIT_TRUNCATE_TRIGGERS.items():
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")


FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # PBKDF2 costs ~0.7 s per user on this machine; tests create many users.
    settings.PASSWORD_HASHERS = FAST_HASHERS


def media_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.getbasetemp() / "media")


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    settings.MEDIA_ROOT = media_root(tmp_path_factory)


def built_once(
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
    build: Callable[[], T],
    **overrides: Any,
) -> Iterator[T]:
    """Rows a whole module reads, built once in a transaction that every test of it nests in.

    For a module-scoped fixture (`yield from built_once(...)`) whose setup costs far more than each of
    its tests (a world made through the services, audit chain included). Each test's own transaction
    (pytest-django's TestCase atomic) becomes a savepoint inside this one: a test starts from exactly
    these rows and what it writes is rolled back, as before; the rows themselves are rolled back when
    the module ends. Tests that use it must not be transactional (a flush would empty the rows), and
    should re-read the rows (`fresh`) rather than share model instances another test may have changed.
    Built with the settings the autouse fixtures give a test (fast hashing, the session's media) and
    `overrides`: the settings the module's own autouse fixtures give its tests.
    """
    from django.db import transaction
    from django.test.utils import override_settings

    atomic = transaction.atomic()
    # A durable block inside sees a test case's block, as it does in any test.
    atomic._from_testcase = True  # type: ignore[attr-defined]
    with django_db_blocker.unblock():
        atomic.__enter__()
        try:
            test_settings = {"PASSWORD_HASHERS": FAST_HASHERS, "MEDIA_ROOT": media_root(tmp_path_factory)}
            with override_settings(**{**test_settings, **overrides}):
                rows = build()
        except BaseException:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            raise
    try:
        yield rows
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def fresh(row: M) -> M:
    """The same row read again: what the database holds now, with no state a previous test left on it."""
    return type(row)._default_manager.get(pk=row.pk)


def fresh_fixture(name: str) -> Any:
    """A test-scoped fixture `name` that reads `_shared.<name>` again (`fresh`).

    For a module whose module-scoped `_shared` fixture builds its world once (`built_once`):
    `engineer = fresh_fixture("engineer")` at module level.
    """

    @pytest.fixture(name=name)
    def read(db: None, _shared: Any) -> Any:
        return fresh(getattr(_shared, name))

    return read


@pytest.fixture(autouse=True)
def _drop_partitions_after_flush(request: pytest.FixtureRequest, django_db_blocker: Any) -> Iterator[None]:
    """Drop the collections' chunk partitions a transactional test leaves behind.

    pytest-django empties tables with TRUNCATE, which keeps the partitions; a later collection that got
    the same primary key (sequences reset) would find its partition name taken. The clean-up lives here,
    not in retrieval.storage.create_partition, so production never drops a table on create.
    """
    yield
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or bool(
        marker and (marker.kwargs.get("transaction") or marker.args[:1] == (True,))
    )
    if not transactional:
        return
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits"
            " WHERE inhparent = to_regclass('retrieval_chunk')"
        )
        for (partition,) in cursor.fetchall():
            cursor.execute(f"DROP TABLE IF EXISTS {partition}")


@pytest.fixture
def officer(db: None) -> Any:
    return UserFactory(username="officer", role=COMPLIANCE_OFFICER)


@pytest.fixture
def officer2(db: None) -> Any:
    return UserFactory(username="officer2", role=COMPLIANCE_OFFICER)


@pytest.fixture
def engineer(db: None) -> Any:
    return UserFactory(username="engineer", role=ENGINEER)


@pytest.fixture
def auditor(db: None) -> Any:
    return UserFactory(username="auditor", role=AUDITOR)


@pytest.fixture
def outsider(db: None) -> Any:
    """Logged in but holding no role."""
    return UserFactory(username="outsider")


@pytest.fixture
def api() -> Callable[[Any], APIClient]:
    """api(user) -> a client authenticated with that user's token; api(None) -> anonymous."""

    def make(user: Any) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


def _database_url() -> str:
    db = settings.DATABASES["default"]
    auth = quote(db["USER"]) + (":" + quote(db["PASSWORD"]) if db["PASSWORD"] else "")
    host = db["HOST"]
    if host.startswith("/"):
        return f"postgresql://{auth}@/{db['NAME']}?host={quote(host)}"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgresql://{auth}@{host}{port}/{db['NAME']}"


class Worker:
    """A real `celery worker` process consuming both queues of the test broker."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.process = env, log, None  # type: Any

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "governance",
                "worker",
                "-Q",
                "default,gpu",
                "-c",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
                "-n",
                f"test-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        from governance.celery import app

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited; see {self.log}")
            if app.control.ping(timeout=0.5):
                return
        raise RuntimeError(f"celery worker did not answer a ping; see {self.log}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def child_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]


@pytest.fixture(scope="session")
def celery_worker(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """One worker for the session, pointed at the test database and the test Redis database."""
    from governance.celery import app

    app.control.purge()
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": _database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "MEDIA_ROOT": str(tmp_path_factory.getbasetemp() / "media"),
            "SUBJECT_KEY_SECRET": settings.SUBJECT_KEY_SECRET,
            "SECRET_KEY": settings.SECRET_KEY,
            "ERASURE_IDENTIFIER_KEY": settings.ERASURE_IDENTIFIER_KEY,
            "PII_ENGINE": settings.PII_ENGINE,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "DB_CONN_MAX_AGE": "0",
            "CELERY_KEY_PREFIX": settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"],
        }
    )
    worker = Worker(env, tmp_path_factory.getbasetemp() / "celery-worker.log")
    worker.start()
    yield worker
    worker.stop()


def dead_pid() -> int:
    """The pid of a process that has exited: what a SIGKILLed worker leaves in the row it claimed."""
    process = subprocess.Popen(["true"])  # noqa: S607 - fixed argv
    process.wait()
    return process.pid


@pytest.fixture
def live_pid() -> Iterator[int]:
    """Another live process on this host, standing in for a worker that still holds its row."""
    process = subprocess.Popen(["sleep", "120"])  # noqa: S607 - fixed argv
    yield process.pid
    process.kill()
    process.wait()


def wait_for(predicate: Callable[[], Any], *, timeout: float = 120, interval: float = 0.2) -> Any:
    """Poll until predicate() is truthy; fail with a clear message when time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Drop test databases left by runs that were killed (their pid is gone), so they do not pile up."""
    import psycopg
    from psycopg import sql

    db = settings.DATABASES["default"]
    params = {
        "dbname": "postgres",
        "user": db["USER"],
        "password": db["PASSWORD"] or None,
        "host": db["HOST"],
    }
    if db["PORT"]:
        params["port"] = db["PORT"]
    try:
        with psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v}) as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'test_governance_%'"
                )
            ]
            for name in names:
                # test_governance_<pid>, or test_governance_<pid>_gw<n> for an xdist worker's database.
                run = re.fullmatch(r"test_governance_(\d+)(?:_gw\d+)?", name)
                if run and not Path(f"/proc/{run[1]}").exists():
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                    )
    except psycopg.Error:
        pass  # an external server may not let this user list or drop databases; nothing to clean then


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL WeasyPrint asks the rendering layer's fetcher for, refused or not."""
    from governance.rendering import StaticOnlyFetcher

    urls: list[str] = []
    original = StaticOnlyFetcher.fetch

    def spy(self: StaticOnlyFetcher, url: str, headers: dict[str, str] | None = None) -> Any:
        urls.append(url)
        return original(self, url, headers)

    monkeypatch.setattr(StaticOnlyFetcher, "fetch", spy)
    return urls
