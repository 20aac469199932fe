"""Scanner processes: a long scan's batches spread over several cores, results returned in order.

spaCy's NER holds the GIL, so a second core only helps in a second process. Each scanner is a plain
`python -m governance.pii.processes` child (not a `multiprocessing` process): a Celery prefork child is
daemonic and may not start those, and a forked copy of the worker would inherit its broker connection.
The child loads only what a scan needs: Django settings are configured from the parent's PII settings
(engine, threshold, phone regions, subject-key secret), sent over the child's stdin, never its argv or
environment, so the secret is not visible in the process table.

The protocol is pickle frames on the child's stdin and on a private copy of its stdout (the real stdout
is pointed at stderr, so a library that prints cannot corrupt it): one configuration frame, then a list
of texts per batch, each answered by ("ok", [ScanResult, ...]) or ("error", exception type name). An
error never carries the exception's message: it may quote the text being scanned.

The child asks the kernel to kill it when its parent dies (PR_SET_PDEATHSIG), so a worker that is
killed mid-scan leaves no scanner behind; it also exits when its stdin closes.
"""

from __future__ import annotations

import collections
import ctypes
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import IO, Any

from governance.pii.results import ScanResult

# Batches queued per process beyond the one it is scanning: enough that a process never waits for the
# parent between batches, few enough that a stopped scan has little to throw away.
AHEAD = 1
STOP_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1


class ScannerFailed(RuntimeError):
    """A scanner process failed or exited; the message names the exception type or the exit code only."""


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class _Scanner:
    """One child process and the thread that feeds its stdin (so the parent never blocks on a full pipe)."""

    def __init__(self, config: dict[str, Any]) -> None:
        env = dict(os.environ)
        # One thread each: the processes are the parallelism.
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "governance.pii.processes", str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        self._inbox: queue.Queue[list[str] | None] = queue.Queue()
        self._feeder = threading.Thread(target=self._feed, name="pii-scanner-feed", daemon=True)
        self._inbox.put(config)  # type: ignore[arg-type]
        self._feeder.start()

    def _feed(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            while (item := self._inbox.get()) is not None:
                pickle.dump(item, stdin, protocol=pickle.HIGHEST_PROTOCOL)
                stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the child exited; the reader reports it
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def send(self, texts: list[str]) -> None:
        self._inbox.put(texts)

    def receive(self) -> list[ScanResult]:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            status, payload = pickle.load(stdout)  # noqa: S301 - our own child's pipe
        except (EOFError, pickle.UnpicklingError, OSError):
            code = self.process.wait(timeout=STOP_TIMEOUT_S)
            raise ScannerFailed(f"scanner process exited with code {code}") from None
        if status != "ok":
            raise ScannerFailed(f"scanner process failed: {payload}")
        return list(payload)

    def stop(self) -> None:
        self._inbox.put(None)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class ScannerPool:
    """`processes` scanner children for one scan; use as a context manager so they always exit."""

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError("a scanner pool needs at least one process")
        from django.conf import settings

        from governance.pii.keys import subject_key_secret

        config = {
            "PII_ENGINE": str(settings.PII_ENGINE),
            "PII_SCORE_THRESHOLD": float(settings.PII_SCORE_THRESHOLD),
            "PII_PHONE_REGIONS": tuple(settings.PII_PHONE_REGIONS),
            "SUBJECT_KEY_SECRET": subject_key_secret(),
        }
        self._scanners: list[_Scanner] = []
        try:
            for _ in range(processes):
                self._scanners.append(_Scanner(config))
        except BaseException:
            self._kill()
            raise
        self._clean = False

    def __enter__(self) -> ScannerPool:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None and self._clean:
            for scanner in self._scanners:
                scanner.stop()
        else:
            # Stopped early (a lost claim, a failure): what is still being scanned is thrown away.
            self._kill()

    def _kill(self) -> None:
        for scanner in self._scanners:
            scanner.kill()

    def scan(self, batches: Iterable[tuple[int, list[str]]]) -> Iterator[tuple[int, list[ScanResult]]]:
        """(first ordinal, results) for each (first ordinal, texts), in the order the batches came."""
        count = len(self._scanners)
        pending: collections.deque[tuple[int, _Scanner]] = collections.deque()
        for sequence, (first, texts) in enumerate(batches):
            if len(pending) >= count * (1 + AHEAD):
                yield self._collect(pending.popleft())
            scanner = self._scanners[sequence % count]
            scanner.send(texts)
            pending.append((first, scanner))
        while pending:
            yield self._collect(pending.popleft())
        self._clean = True

    @staticmethod
    def _collect(item: tuple[int, _Scanner]) -> tuple[int, list[ScanResult]]:
        first, scanner = item
        return first, scanner.receive()


# --- The child ------------------------------------------------------------------------------------


def _die_with_parent(parent_pid: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the closed stdin still ends the child
    if os.getppid() != parent_pid:
        os._exit(1)  # the parent died before the request took effect


def _serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    from django.conf import settings

    settings.configure(**pickle.load(requests))  # noqa: S301 - the parent's pipe
    from governance.pii import engine

    engine.warm_up()
    while True:
        try:
            texts = pickle.load(requests)  # noqa: S301 - the parent's pipe
        except EOFError:
            return
        try:
            reply: tuple[str, Any] = ("ok", engine.scan_texts(texts))
        except Exception as exc:  # noqa: BLE001 - reported to the parent by type only
            reply = ("error", type(exc).__name__)
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


# Optional imports of spaCy (thinc: torch) and presidio (transformers) that a scan never uses: blocked,
# they are 80% of a scanner's start (1.7 s instead of 6.9 s measured). The parity test shows the
# findings are the same.
_UNUSED_MODULES = ("torch", "transformers")


def main() -> None:
    _die_with_parent(int(sys.argv[1]))
    for name in _UNUSED_MODULES:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    # The protocol gets its own copy of stdout; fd 1 then points at stderr for anything that prints.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
