"""`python -m devstack.supervisor` (what `make run` runs the Procfile with) on a small Procfile of real
processes: one that dies is started again while the others keep running, and SIGTERM stops them all,
one that ignores SIGTERM included."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.processes import wait_until
from devstack.stack import BASE_DIR

#: Each process prints its pid, then waits to be stopped.
WAITS = "import os, time; print(os.getpid(), flush=True); time.sleep(600)"
#: The same, deaf to SIGTERM (a process that does not stop in time is killed).
DEAF = "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + WAITS.split("; ", 1)[1]
STARTED = re.compile(r"supervisor: (?P<name>[\w-]+) started(?: again)? \(pid (?P<pid>\d+)\)")


class Run:
    def __init__(self, procfile: Path, output: Path) -> None:
        self.output = output
        with output.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devstack.supervisor", str(procfile)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=BASE_DIR,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def pids(self) -> dict[str, list[int]]:
        """Every pid each process was started with, in order."""
        started: dict[str, list[int]] = {}
        for match in STARTED.finditer(self.text()):
            started.setdefault(match["name"], []).append(int(match["pid"]))
        return started


def _printed(run: Run, name: str, pid: int) -> bool:
    """The process's own output reached the terminal, prefixed with its name (it is ready)."""
    return re.search(rf"{name}\s*\| {pid}$", run.text(), re.M) is not None


def _all_ready(run: Run) -> dict[str, int]:
    wait_until(lambda: len(run.pids()) == 3, timeout=30, what="three processes started")
    first = {name: pids[0] for name, pids in run.pids().items()}
    ready = lambda: all(_printed(run, name, pid) for name, pid in first.items())  # noqa: E731
    wait_until(ready, timeout=30, what="all three ready")
    return first


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not running: its parent has not reaped it yet.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@pytest.fixture
def run(tmp_path: Path):
    procfile = tmp_path / "Procfile"
    python = sys.executable
    procfile.write_text(
        f'web: {python} -c "{WAITS}"\nworker: {python} -c "{WAITS}"\nbeat: {python} -c "{DEAF}"\n'
    )
    run = Run(procfile, tmp_path / "output.log")
    yield run
    if run.process.poll() is None:
        run.process.kill()
        run.process.wait(10)
    for pids in run.pids().values():
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_process_that_exits_is_started_again_and_the_others_keep_running(run: Run) -> None:
    first = _all_ready(run)

    os.kill(first["worker"], signal.SIGKILL)

    wait_until(lambda: len(run.pids()["worker"]) == 2, timeout=30, what="the worker started again")
    restarted = run.pids()["worker"][1]
    assert "worker exited unexpectedly (code -9" in run.text()
    assert run.process.poll() is None
    assert _alive(first["web"])
    assert _alive(first["beat"])
    assert run.pids()["web"] == [first["web"]]
    assert run.pids()["beat"] == [first["beat"]]
    wait_until(lambda: _printed(run, "worker", restarted), timeout=30, what="the new worker's output")


def test_sigterm_stops_every_process(run: Run) -> None:
    pids = list(_all_ready(run).values())

    run.process.send_signal(signal.SIGTERM)

    assert run.process.wait(30) == 0
    assert not [pid for pid in pids if _alive(pid)]
    text = run.text()
    assert "beat still running 5s after SIGTERM: SIGKILL" in text
    assert "web stopped" in text
    assert "worker stopped" in text
    assert "started again" not in text


def test_a_process_that_keeps_exiting_waits_longer_before_each_restart(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text(f'crashes: {sys.executable} -c "raise SystemExit(3)"\n')
    run = Run(procfile, tmp_path / "output.log")
    try:
        wait_until(lambda: "starting it again in 4s" in run.text(), timeout=60, what="a third exit")
        waits = re.findall(r"crashes exited unexpectedly \(code 3, .*starting it again in (\d+)s", run.text())
        assert waits[:3] == ["1", "2", "4"]
    finally:
        run.process.send_signal(signal.SIGTERM)
        run.process.wait(30)


def test_the_supervisors_lines_never_break_into_a_process_line(tmp_path: Path, capsys) -> None:
    """The supervisor's own messages and the processes' lines share the terminal: each whole line
    is written under one lock (`print` writes a line, then its newline, in two calls)."""
    from datetime import datetime
    from threading import Thread

    from honcho.printer import Message

    from devstack.supervisor import Procfile

    procfile = tmp_path / "Procfile"
    procfile.write_text("web: true\n")
    printing = Procfile(procfile, env={})
    say = printing.printer.line_by_line(lambda text: print(f"supervisor: {text}", flush=True))

    def lines() -> None:
        for n in range(3000):
            printing.printer.write(Message("line", f"{n}\n", datetime.now(), "web", None))

    def messages() -> None:
        for n in range(3000):
            say(f"message {n}")

    threads = [Thread(target=lines), Thread(target=messages)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns often, as on a busy machine
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 6000
    broken = [line for line in out if not re.fullmatch(r"supervisor: message \d+|\S+ web \| \d+", line)]
    assert not broken, broken[:5]
