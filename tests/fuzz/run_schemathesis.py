"""Fuzz the REST API from its own OpenAPI schema with schemathesis, as an engineer and as an officer.

Run by `make fuzz` (and so by CI). It creates a throw-away database with the demo loaded, serves it with
gunicorn on a loopback port, runs the schemathesis CLI (installed in its own venv, `.venv-fuzz`, so its
pins never meet the platform's) once per role, then drops the database. Exit status: schemathesis's.

Bounded by examples per operation (FUZZ_MAX_EXAMPLES) with one worker and a fixed seed, so a run draws
the same cases on a fast or a slow machine; FUZZ_MAX_TIME (seconds per role, unset by default) turns on
schemathesis's time budget instead, which keeps fuzzing until it is spent (deeper, but not repeatable).
FUZZ_TIMEOUT is a hard stop per role.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")

MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "60")
MAX_TIME = os.environ.get("FUZZ_MAX_TIME", "")
TIMEOUT = int(os.environ.get("FUZZ_TIMEOUT", "900"))
SCHEMATHESIS = ROOT / ".venv-fuzz" / "bin" / "schemathesis"
# Extra CLI arguments, e.g. FUZZ_ARGS="--include-path-regex=/dpias/" to rerun one operation quickly.
EXTRA_ARGS = shlex.split(os.environ.get("FUZZ_ARGS", ""))
SERVER_LOG = Path(os.environ.get("FUZZ_SERVER_LOG", "/tmp/fuzz-server.log"))  # noqa: S108
ROLES = {"engineer": "engineer", "officer": "compliance_officer"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_url(name: str) -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    auth = quote(str(db["USER"]), safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(str(db["PASSWORD"]), safe="")
    host = str(db["HOST"])
    if host.startswith("/"):
        return f"postgresql://{auth}@/{name}?host={quote(host, safe='')}"
    return f"postgresql://{auth}@{host}:{db['PORT'] or 5432}/{name}"


def _prepare() -> tuple[str, dict[str, str]]:
    """Create and migrate a fresh database, load the demo, return its URL and a token per role."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from rest_framework.authtoken.models import Token

    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    call_command("load_demo")
    tokens: dict[str, str] = {}
    for role, group in ROLES.items():
        user = get_user_model().objects.filter(groups__name=group, is_superuser=False).order_by("pk").first()
        if user is None:
            raise SystemExit(f"fuzz: the demo has no {group} user")
        tokens[role] = Token.objects.get_or_create(user=user)[0].key
    connection.close()
    return name, tokens


def _serve(database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_DB": "3", "DEBUG": "false"}
    env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "governance.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        "--workers=2",
        "--threads=4",
        "--timeout=120",
        "--log-level=warning",
    ]
    # The server's own log would drown schemathesis's report: it goes to a file, shown when asked.
    log = open(SERVER_LOG, "wb")  # noqa: SIM115 - closed with the process
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/schema/", timeout=5)  # noqa: S310
            return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit("fuzz: the server exited before it answered") from None
            time.sleep(1)
    server.kill()
    raise SystemExit("fuzz: the server did not answer within 120 s")


def _fuzz(port: int, role: str, token: str) -> int:
    print(f"--- schemathesis as {role} ---", flush=True)
    command = [
        str(SCHEMATHESIS),
        "run",
        f"http://127.0.0.1:{port}/api/schema/",
        "--header",
        f"Authorization: Token {token}",
        "--checks=all",
        f"--max-examples={MAX_EXAMPLES}",
        *([f"--max-time={MAX_TIME}"] if MAX_TIME else []),
        "--workers=1",
        "--request-timeout=60",
        "--suppress-health-check=all",
        "--seed=1",
        # No example database: each run draws the same cases from the seed instead of replaying old ones.
        "--generation-database=none",
        *EXTRA_ARGS,
    ]
    try:
        return subprocess.call(command, cwd=ROOT / "tests" / "fuzz", timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"fuzz: schemathesis as {role} ran past FUZZ_TIMEOUT ({TIMEOUT} s)", flush=True)
        return 1


def main() -> int:
    if not SCHEMATHESIS.exists():
        raise SystemExit(f"fuzz: {SCHEMATHESIS} is missing; run `make fuzz`")
    name, tokens = _prepare()
    from django.db import connection

    port = _free_port()
    server = _serve(_database_url(name), port)
    try:
        results = {role: _fuzz(port, role, tokens[role]) for role in ROLES}
    finally:
        server.terminate()
        server.wait(timeout=30)
        connection.creation.destroy_test_db(name, verbosity=0)
    print(f"fuzz: the server's log is {SERVER_LOG}")
    print("fuzz:", ", ".join(f"{role} exit {code}" for role, code in results.items()))
    return max(results.values())


if __name__ == "__main__":
    sys.exit(main())
