"""run_platform's supervisor: a child that dies is logged with its exit code and restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from governance.management.commands.run_platform import Supervisor, platform_commands

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]

# Like gunicorn and celery, this child handles SIGINT itself (exits 0) even when it inherited it ignored.
SIGINT_AWARE = (
    "import signal, sys, time; signal.signal(signal.SIGINT, lambda *_: sys.exit(0)); time.sleep(120)"
)

# The supervisor as `run_platform` drives it (handlers, start, run, stop), with two cheap children.
SUPERVISOR_SCRIPT = f"""
import os, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
django.setup()
from governance.management.commands.run_platform import Supervisor
child = [sys.executable, "-c", {SIGINT_AWARE!r}]
supervisor = Supervisor({{"web": child, "worker-default": child}}, log=lambda line: print(line, flush=True))
supervisor.install_signal_handlers()
supervisor.start()
print("pids", *[c.process.pid for c in supervisor.children], flush=True)
try:
    supervisor.run(interval=0.05)
finally:
    supervisor.stop(timeout=5)
"""


def _until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_killed_worker_is_restarted_and_its_death_is_logged_with_the_exit_code():
    lines: list[str] = []
    supervisor = Supervisor({"worker-default": SLEEPER, "worker-gpu": SLEEPER}, log=lines.append)
    supervisor.start()
    try:
        default, gpu = supervisor.children
        first_pid, gpu_pid = default.process.pid, gpu.process.pid
        os.kill(first_pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        supervisor.run(
            interval=0.05, until=lambda: default.process.pid != first_pid or time.monotonic() > deadline
        )
        assert default.process.pid != first_pid
        assert default.process.poll() is None
        assert gpu.process.pid == gpu_pid  # its neighbour was left alone
        assert lines[0] == f"worker-default (pid {first_pid}) exited with code -9; restarting in 1 s"
        assert lines[1] == f"worker-default restarted (pid {default.process.pid})"
    finally:
        supervisor.stop(timeout=5)
    assert all(child.process.poll() is not None for child in supervisor.children)


def test_a_child_that_keeps_dying_at_start_backs_off_instead_of_spinning():
    lines: list[str] = []
    supervisor = Supervisor({"web": [sys.executable, "-c", "raise SystemExit(3)"]}, log=lines.append)
    supervisor.start()
    try:
        [web] = supervisor.children
        _until(lambda: web.process.poll() is not None)
        supervisor.check()  # first quick death: wait 1 s
        assert lines == [f"web (pid {web.process.pid}) exited with code 3; restarting in 1 s"]
        assert supervisor.check() == []  # not before the back-off has passed
    finally:
        supervisor.stop(timeout=5)


def test_stopping_ends_every_child():
    supervisor = Supervisor({"a": SLEEPER, "b": SLEEPER}, log=lambda line: None)
    supervisor.start()
    supervisor.stop(timeout=5)
    assert [child.process.poll() for child in supervisor.children] == [-signal.SIGTERM, -signal.SIGTERM]


def test_the_platform_runs_gunicorn_one_worker_per_queue_and_beat(settings):
    commands = platform_commands("127.0.0.1:8123")
    assert sorted(commands) == ["beat", "web", "worker-default", "worker-gpu"]
    web = commands["web"]
    assert web[2:5] == ["gunicorn", "governance.wsgi:application", "--bind"]
    assert web[web.index("--workers") + 1] == str(settings.PLATFORM_WEB_WORKERS)
    assert web[web.index("--threads") + 1] == str(settings.PLATFORM_WEB_THREADS)
    for name, queue in (("worker-default", "default"), ("worker-gpu", "gpu")):
        argv = commands[name]
        assert argv[argv.index("-Q") + 1] == queue


def _alive(pid: int) -> bool:
    """True while pid runs (a zombie counts as gone: it was orphaned and has already exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _start_supervisor(*, ignore_sigint: bool) -> tuple[subprocess.Popen[str], list[int]]:
    """The supervisor in its own session (as `setsid nohup make run &`); returns it and its child pids."""

    def setup() -> None:
        if ignore_sigint:
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "-c", SUPERVISOR_SCRIPT],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=setup,  # noqa: PLW1509 - only sets a signal disposition
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("pids "), line
    pids = [int(pid) for pid in line.split()[1:]]
    assert all(_alive(pid) for pid in pids)
    return process, pids


def _kill_group(process: subprocess.Popen[str]) -> None:
    # Cleanup for a failed assertion: the session's group holds the supervisor and any orphan.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def test_sigterm_to_the_supervisor_stops_every_child_and_it_exits_0():
    process, pids = _start_supervisor(ignore_sigint=False)
    try:
        os.kill(process.pid, signal.SIGTERM)  # the supervisor only, as kill, systemd and docker do
        assert process.wait(timeout=20) == 0
        _until(lambda: not any(_alive(pid) for pid in pids), timeout=5)
    finally:
        _kill_group(process)


def test_sigint_to_the_group_stops_everything_when_sigint_was_inherited_ignored_and_restarts_nothing():
    process, pids = _start_supervisor(ignore_sigint=True)
    try:
        os.killpg(process.pid, signal.SIGINT)  # `kill -INT -- -<pgid>`: every child gets it too
        assert process.wait(timeout=20) == 0
        assert process.stdout is not None
        output = process.stdout.read()
        assert "restart" not in output
        assert not any(_alive(pid) for pid in pids)
    finally:
        _kill_group(process)


def test_shutdown_after_make_stop_does_not_start_postgres_again(settings, tmp_path, monkeypatch):
    """`make stop` while the platform serves: its shutdown says so instead of restarting PostgreSQL."""
    import io

    from governance import embedded
    from governance.management.commands.run_platform import Command

    settings.EMBEDDED_POSTGRES, settings.EMBEDDED_REDIS = True, True
    monkeypatch.setattr(embedded, "postgres_dir", lambda: tmp_path)  # no postmaster.pid: stopped
    started, redis_stopped = [], []
    monkeypatch.setattr(embedded, "ensure_postgres", lambda: started.append(1) or "")
    monkeypatch.setattr(embedded, "stop_redis", lambda: redis_stopped.append(1))
    command = Command(stdout=io.StringIO())

    command._stop_embedded()

    assert started == [] and redis_stopped == [1]
    assert "already stopped" in command.stdout.getvalue()
