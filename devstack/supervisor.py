"""Keeps the embedded stack's processes running, as compose's `restart: unless-stopped` does: a process
that exits without being asked to (a Celery worker's "Unrecoverable error" when the broker Redis
restarts, a bridge stopped by its poison limit) is started again after a backoff, and the others keep
running. `make run` supervises the Procfile's processes with it; the soak (bench/soak.py) its pipeline.

honcho, which `make run` used before, has no restart policy: it stops every process when one exits.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from honcho.colour import get_colours
from honcho.environ import parse_procfile
from honcho.printer import Message, Printer

from devstack.processes import ManagedProcess

#: The first restart of a process comes this long after it exited; each further one waits twice as
#: long as the one before, up to RESTART_DELAY_MAX.
RESTART_DELAY = 1.0
RESTART_DELAY_MAX = 30.0
#: A process that ran this long before it exited is restarted after RESTART_DELAY again.
STABLE_AFTER = 30.0
#: A stop sends SIGTERM to every process, then SIGKILL to those still running this long after
#: (honcho's bound, which the processes' own shutdowns are made to keep: docs/bridge-shutdown.md).
STOP_GRACE = 5.0
#: How often the supervisor looks for exited processes.
WATCH_INTERVAL = 0.2


@dataclass(frozen=True)
class Restart:
    """One restart: which process, its exit code, when (seconds since the supervisor started) and
    after how long a wait."""

    process: str
    exit: int | None
    at_s: float
    delay_s: float


class Supervisor:
    """Watches `processes[name]` for each of `names` and calls `start(name)` (which must put the new
    process in `processes`) when one has exited, after a backoff. Whoever kills and restarts a process
    on purpose (a fault) holds `paused()` meanwhile; a process started by someone else is watched
    from then on. `stop()` ends them all: SIGTERM, then SIGKILL after `grace` seconds."""

    def __init__(
        self,
        processes: Mapping[str, ManagedProcess],
        start: Callable[[str], object],
        names: Sequence[str],
        *,
        say: Callable[[str], None],
    ) -> None:
        self.processes = processes
        self._start = start
        self.names = tuple(names)
        self.say = say
        self.restarts: list[Restart] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._began = time.monotonic()
        #: Per process: the one watched, when it started, the delay of its next restart, and when
        #: that restart is due (None while it runs).
        self._watched: dict[str, ManagedProcess] = {}
        self._started_at: dict[str, float] = {}
        self._delay: dict[str, float] = {}
        self._due: dict[str, float | None] = {}

    def start_all(self) -> None:
        for name in self.names:
            self._launch(name)
            self.say(f"{name} started (pid {self.processes[name].process.pid})")

    def _launch(self, name: str) -> None:
        self._start(name)
        self._adopt(name, self.processes[name], time.monotonic())

    def _adopt(self, name: str, process: ManagedProcess, now: float) -> None:
        self._watched[name] = process
        self._started_at[name] = now
        self._due[name] = None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No restart while held: the holder kills or restarts processes itself."""
        with self._lock:
            yield

    def watch(self) -> None:
        """Restart exited processes until `request_stop()` or `stop()`: in a thread, or as the main loop."""
        while not self._stopping.wait(WATCH_INTERVAL):
            with self._lock:
                if not self._stopping.is_set():
                    self.check()

    def request_stop(self) -> None:
        """Stop watching (safe in a signal handler); the processes keep running until `stop()`."""
        self._stopping.set()

    def check(self) -> None:
        """One look at every process: note the ones that exited, restart those whose wait is over."""
        now = time.monotonic()
        for name in self.names:
            process = self.processes[name]
            if process is not self._watched.get(name):
                self._adopt(name, process, now)
            if process.running:
                continue
            due = self._due[name]
            if due is None:
                self._exited(name, process, now)
            elif now >= due:
                code = process.process.returncode
                self.restarts.append(Restart(name, code, round(now - self._began, 1), self._delay[name]))
                self._launch(name)
                self.say(f"{name} started again (pid {self.processes[name].process.pid})")

    def _exited(self, name: str, process: ManagedProcess, now: float) -> None:
        ran = now - self._started_at[name]
        previous = self._delay.get(name)
        if previous is None or ran >= STABLE_AFTER:
            delay = RESTART_DELAY
        else:
            delay = min(previous * 2, RESTART_DELAY_MAX)
        self._delay[name] = delay
        self._due[name] = now + delay
        process.stop()  # reaps it and closes its output
        # What is left of its process group (a worker's pool) goes with it, as with a container's end.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.process.pid, signal.SIGKILL)
        self.say(
            f"{name} exited unexpectedly (code {process.process.returncode}, after {ran:.0f}s): "
            f"starting it again in {delay:.0f}s; the other processes keep running"
        )

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM to every process at once, SIGKILL to whatever still runs `grace` seconds later."""
        self._stopping.set()
        with self._lock:
            running = [self.processes[name] for name in self.names if self.processes[name].running]
            for process in running:
                process.signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            for process in running:
                with suppress(subprocess.TimeoutExpired):
                    process.process.wait(max(0.0, deadline - time.monotonic()))
            for process in running:
                if process.running:
                    self.say(f"{process.name} still running {grace:.0f}s after SIGTERM: SIGKILL")
                process.stop(timeout=0)
                self.say(f"{process.name} stopped (code {process.process.returncode})")


class PrintedProcess(ManagedProcess):
    """A Procfile process (its line split as a shell would, run without one, in its own process group)
    whose output goes to the terminal, each line prefixed with the time and its name, as honcho prints."""

    def __init__(
        self, name: str, command: str, *, printer: Printer, colour: str, env: dict, cwd: Path, log_dir: Path
    ) -> None:
        super().__init__(name, shlex.split(command), log_dir=log_dir, env=env, cwd=cwd)
        self.printer = printer
        self.colour = colour

    def start(self) -> PrintedProcess:
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
        )
        threading.Thread(target=self._relay, args=(self.process.stdout,), name=self.name, daemon=True).start()
        return self

    def _relay(self, output: IO[bytes]) -> None:
        with output:
            for line in iter(output.readline, b""):
                self.printer.write(Message("line", line, datetime.now(), self.name, self.colour))

    def _close_output(self) -> None:
        """The relay thread closes the pipe at its end (the process group has exited by now)."""


class LinePrinter(Printer):
    """honcho's printer, one line at a time from any thread."""

    def __init__(self, output: IO[str] | None = None) -> None:
        super().__init__(output or sys.stdout)
        #: Held for each whole line: `print` writes a line and its newline in two calls.
        self.lock = threading.Lock()

    def write(self, message: Message) -> None:
        with self.lock:
            super().write(message)

    def line_by_line(self, say: Callable[[str], None]) -> Callable[[str], None]:
        """`say`, writing under the same lock as the processes' lines (else its text and theirs
        interleave mid-line)."""

        def said(message: str) -> None:
            with self.lock:
                say(message)

        return said


class Procfile:
    """The Procfile's processes, started by name with their output on the terminal."""

    def __init__(self, path: Path, *, env: dict, printer: LinePrinter | None = None) -> None:
        self.commands: dict[str, str] = dict(parse_procfile(path.read_text()).processes)
        self.env = env
        self.cwd = path.parent
        self.printer = printer or LinePrinter()
        self.printer.width = max(len(name) for name in self.commands)
        colours = get_colours()
        self.colours = {name: next(colours) for name in self.commands}
        self.processes: dict[str, ManagedProcess] = {}

    def start(self, name: str) -> ManagedProcess:
        process = PrintedProcess(
            name,
            self.commands[name],
            printer=self.printer,
            colour=self.colours[name],
            env=self.env,
            cwd=self.cwd,
            log_dir=self.cwd / "var" / "log",
        ).start()
        self.processes[name] = process
        return process

    def supervisor(self, *, say: Callable[[str], None]) -> Supervisor:
        return Supervisor(self.processes, self.start, list(self.commands), say=self.printer.line_by_line(say))


def supervise_until_signalled(supervisor: Supervisor, *, on_stop: Callable[[], None] | None = None) -> None:
    """Start every process and keep them running until SIGINT (a terminal's Ctrl-C) or SIGTERM;
    then stop them all (`Supervisor.stop`). Each process runs in a session of its own, so a terminal's
    Ctrl-C reaches only the supervisor, which stops the processes itself."""

    def stop(*_: object) -> None:
        if on_stop is not None:
            on_stop()
        supervisor.request_stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    supervisor.start_all()
    supervisor.watch()
    supervisor.say(f"stopping every process (SIGTERM, then SIGKILL after {STOP_GRACE:.0f}s)")
    supervisor.stop()


def main(argv: list[str] | None = None) -> int:
    """`python -m devstack.supervisor [PROCFILE]`: a Procfile's processes (default ./Procfile) in
    this environment, each started again when it exits, until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0] if main.__doc__ else None)
    parser.add_argument("procfile", nargs="?", default="Procfile", type=Path)
    options = parser.parse_args(argv)
    procfile = Procfile(options.procfile.resolve(), env=dict(os.environ))
    supervise_until_signalled(procfile.supervisor(say=_say))
    return 0


def _say(message: str) -> None:
    print(f"supervisor: {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
