"""First and second `make run` on a fresh clone, until the platform serves, split into steps.

Not part of `make bench` (it takes minutes and builds a whole virtual environment). Run it with the
system Python, from anywhere:

    python3.11 tests/benchmarks/first_start.py                 # a clone of HEAD under /tmp/first-start
    python3.11 tests/benchmarks/first_start.py --working-tree  # HEAD plus the uncommitted changes
    python3.11 tests/benchmarks/first_start.py --overlay Makefile  # HEAD plus these files as they are here

It clones this repository (with ../shared linked beside the clone when present), runs `make run` until
the admin login page answers, stops it with SIGINT (as Ctrl-C would; that also stops the embedded
PostgreSQL), runs `make run` a second time the same way, stops it, and writes
bench-results/first_start.json here; `make bench` shows it in its summary table. Each line make and the
platform print is timestamped as it arrives, and the steps are read from them: the commands make echoes
(install, embedded services, migrate, demo, collectstatic, run_platform) and, for `run_platform
--prepare`, the "prepared in" line it prints.

Installs come from whatever pip is configured with here (index, find-links, its cache); the JSON keeps
pip's cache size and the machine's load average, since both move the install time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]
TARGET_FIRST_S = 300.0
TARGET_SECOND_S = 20.0

# A line containing the text starts the step (first match wins); the first step is the install. The
# server step runs until the login page answers (gunicorn imports the app before it logs anything).
MARKERS = (
    ("services", "manage.py embedded_services start"),
    ("migrate", "manage.py migrate"),
    ("demo", "manage.py load_demo"),
    ("static", "manage.py collectstatic"),
    ("prepare", "manage.py run_platform --prepare"),
    ("server", "manage.py run_platform"),
    ("server", "prepared in "),
)
PREPARED = re.compile(
    r"prepared in ([\d.]+) s: collectstatic ([\d.]+) s, migrate ([\d.]+) s, demo ([\d.]+) s"
)


def _clone(work: Path, *, working_tree: bool, overlay: list[str]) -> Path:
    if work.exists():
        _stop(work / "main")
        shutil.rmtree(work)
    work.mkdir(parents=True)
    clone = work / "main"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    shared = REPO.parent / "shared"
    if shared.is_dir():
        (work / "shared").symlink_to(shared)
    if working_tree:
        # Uncommitted edits to tracked files, then the new files git does not ignore.
        diff = subprocess.run(
            ["git", "-C", str(REPO), "diff", "--binary", "HEAD"], check=True, capture_output=True
        ).stdout
        if diff:
            subprocess.run(["git", "-C", str(clone), "apply"], input=diff, check=True)
        untracked = subprocess.run(
            ["git", "-C", str(REPO), "ls-files", "--others", "--exclude-standard", "-z"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for name in filter(None, untracked.split("\0")):
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    for name in overlay:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, clone / name)
    return clone


def _serves(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a loopback URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class Start:
    """One `make run` in its own process group, each output line kept with its time since the start."""

    def __init__(self, clone: Path, env: dict[str, str], log: Path) -> None:
        self.lines: list[tuple[float, str]] = []
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            ["make", "run"],
            cwd=clone,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.log = log.open("a", encoding="utf-8")
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode(errors="replace").rstrip("\n")
            at = time.monotonic() - self.started
            self.lines.append((at, line))
            self.log.write(f"{at:8.1f} {line}\n")
            self.log.flush()

    def wait_serving(self, url: str, timeout: float) -> float:
        while not _serves(url):
            if self.process.poll() is not None:
                raise SystemExit(
                    f"make run exited with {self.process.returncode} before serving; see the log"
                )
            if time.monotonic() - self.started > timeout:
                self.interrupt()
                raise SystemExit(f"make run did not serve within {timeout:.0f} s; see the log")
            time.sleep(0.2)
        return time.monotonic() - self.started

    def interrupt(self) -> None:
        """SIGINT to the group, as Ctrl-C would: run_platform stops its children and the services."""
        try:
            os.killpg(self.process.pid, signal.SIGINT)
            self.process.wait(timeout=120)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()

    def steps(self, serving_s: float) -> dict[str, float]:
        """Seconds per step, from the lines that start each one, until serving."""
        marks: list[tuple[float, str]] = [(0.0, "install")]
        for at, line in self.lines:
            if at > serving_s:
                break
            step = next((name for name, text in MARKERS if text in line), None)
            if step is not None and step != marks[-1][1]:
                marks.append((at, step))
        out: dict[str, float] = {}
        for (at, step), (end, _) in zip(marks, [*marks[1:], (serving_s, "")], strict=True):
            if end - at >= 0.05:  # a second start has no install: its first line starts the next step
                out[f"{step}_s"] = round(out.get(f"{step}_s", 0.0) + end - at, 1)
        for _, line in self.lines:
            if match := PREPARED.search(line):
                for name, value in zip(("collectstatic", "migrate", "demo"), match.groups()[1:], strict=True):
                    out[f"prepare_{name}_s"] = float(value)
        return out


def _stop(clone: Path) -> None:
    if (clone / ".venv" / "bin" / "python").exists():
        subprocess.run(["make", "stop"], cwd=clone, capture_output=True, check=False)


def _du_mb(path: Path) -> float:
    if not path.exists():
        return 0.0
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return round(size / 2**20, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/first-start"), help="where to clone")
    parser.add_argument("--port", type=int, default=8765, help="PLATFORM_ADDR port of the clone")
    parser.add_argument("--working-tree", action="store_true", help="apply the uncommitted changes too")
    parser.add_argument("--overlay", nargs="*", default=[], help="files (from the repository root) to copy")
    parser.add_argument("--keep", action="store_true", help="keep the clone (stopped) afterwards")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed for one start")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "first_start.json")
    args = parser.parse_args()

    addr = f"127.0.0.1:{args.port}"
    url = f"http://{addr}/admin/login/"
    if _serves(url):
        raise SystemExit(f"something already serves {url}; pick another --port")
    clone = _clone(args.work, working_tree=args.working_tree, overlay=args.overlay)
    env = {**os.environ, "PLATFORM_ADDR": addr}
    log = args.work / "make-run.log"
    figures: dict[str, object] = {
        "at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(
            ["git", "-C", str(clone), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip(),
        "working_tree": args.working_tree,
        "overlay": args.overlay,
        "cores": os.cpu_count(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "pip_cache_mb": _du_mb(Path(os.environ.get("PIP_CACHE_DIR", Path.home() / ".cache" / "pip"))),
        "pip_find_links": os.environ.get("PIP_FIND_LINKS", ""),
    }
    try:
        first = Start(clone, env, log)
        first_s = first.wait_serving(url, args.timeout)
        print(f"first make run: serving after {first_s:.1f} s", flush=True)  # noqa: T201
        first.interrupt()
        second = Start(clone, env, log)
        second_s = second.wait_serving(url, args.timeout)
        print(f"second make run: serving after {second_s:.1f} s", flush=True)  # noqa: T201
        second.interrupt()
    finally:
        _stop(clone)
    figures.update(
        {
            "first_start_s": round(first_s, 1),
            "second_start_s": round(second_s, 1),
            "steps": first.steps(first_s),
            "second_steps": second.steps(second_s),
            "target_first_s": TARGET_FIRST_S,
            "target_second_s": TARGET_SECOND_S,
            "load_after": [round(x, 2) for x in os.getloadavg()],
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))  # noqa: T201
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
