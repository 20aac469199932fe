"""run_platform's supervisor: a child that dies is logged with its exit code and restarted."""

from __future__ import annotations

import os
import signal
import sys
import time

from governance.management.commands.run_platform import Supervisor, platform_commands

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


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
