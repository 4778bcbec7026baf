"""The users service's queues, each consumed by one worker role: declared once, here.

Everything else is derived from `ROLES`: Celery's queue and route settings
(`settings.py`), the queue of each task in the bridge's routing table
(`routing.py`) and of each periodic task (`reports/schedules.py`), the worker's
command line (`manage.py users run_worker <role>`, which the Procfile and the
compose worker services start), and the longest countdown a task may wait
(`task_policy.ServiceTask`).

Why the timings are what they are (docs/worker-roles.md): the Redis transport
hands a task that is still unacked `visibility_timeout` seconds after delivery to
another worker. That is what brings back the task of a worker killed mid-task,
so it should be short; but a task must be acked before it, so it must be longer
than the task's run time plus any countdown it waits (a retry's backoff). Each
role therefore keeps its unacked messages under keys of its own, so that a
worker restores only its own role's tasks, with its own timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal

Pool = Literal["threads", "prefork"]

#: How often a worker looks for unacked tasks older than its role's visibility timeout.
RESTORE_SWEEP_SECONDS = 5
#: How long a sweep's lock (one sweeping worker per role) outlives a worker killed while sweeping: the
#: role's restores wait that long. A sweep takes milliseconds; kombu's default is 300 s.
RESTORE_LOCK_SECONDS = 30


@dataclass(frozen=True)
class WorkerRole:
    """One queue and the worker that consumes it."""

    #: The queue's name, which is also the role's name (`run_worker <queue>`, node `<queue>@host`).
    queue: str
    #: What runs there, for operators (`run_worker --help`, docs).
    runs: str
    #: Task names routed here (fnmatch patterns, as in Celery's `task_routes`).
    tasks: tuple[str, ...]
    pool: Pool
    concurrency: int
    prefetch_multiplier: int
    #: Seconds a task may run. The prefork pool enforces it (hard and soft); the threads pool
    #: cannot (celery#9203), so there each task's own socket timeouts must keep within it.
    time_limit: int
    soft_time_limit: int | None
    #: The longest backoff between retries of a task on this queue.
    retry_backoff_cap: float
    #: Seconds after delivery at which an unacked task is given to another worker.
    visibility_timeout: int

    def __post_init__(self) -> None:
        if self.pool == "threads" and self.soft_time_limit is not None:
            raise ValueError(f"{self.queue}: the threads pool ignores time limits; declare none")
        if self.soft_time_limit is not None and self.soft_time_limit >= self.time_limit:
            raise ValueError(f"{self.queue}: the soft time limit must be shorter than the hard one")
        if self.retry_backoff_cap > self.max_countdown:
            raise ValueError(
                f"{self.queue}: a retry waiting {self.retry_backoff_cap}s and then running "
                f"{self.time_limit}s would outlive the visibility timeout ({self.visibility_timeout}s) "
                "and be handed to a second worker meanwhile"
            )

    @property
    def max_countdown(self) -> float:
        """The longest countdown/ETA a task on this queue may wait: it must still run and be acked
        within the visibility timeout, which runs from the delivery of the waiting message."""
        return self.visibility_timeout - self.time_limit

    def routes(self, task_name: str) -> bool:
        return any(fnmatchcase(task_name, pattern) for pattern in self.tasks)

    def transport_options(self) -> dict[str, Any]:
        """kombu Redis transport options of this role's worker (its own unacked keys)."""
        return {
            "visibility_timeout": self.visibility_timeout,
            "unacked_key": f"unacked:{self.queue}",
            "unacked_index_key": f"unacked_index:{self.queue}",
            "unacked_mutex_key": f"unacked_mutex:{self.queue}",
            "unacked_mutex_expire": RESTORE_LOCK_SECONDS,
            "unacked_restore_interval": RESTORE_SWEEP_SECONDS,
            # Sweep at every interval (kombu's default scans on every 10th).
            "unacked_restore_throttle": 1,
        }

    def worker_arguments(self, *, concurrency: int | None = None) -> list[str]:
        """`celery worker` options of this role (without the app and the log level)."""
        arguments = [
            f"--queues={self.queue}",
            f"--hostname={self.queue}@%h",
            f"--pool={self.pool}",
            f"--concurrency={concurrency or self.concurrency}",
            f"--prefetch-multiplier={self.prefetch_multiplier}",
        ]
        if self.pool == "prefork":
            arguments.append(f"--time-limit={self.time_limit}")
            if self.soft_time_limit is not None:
                arguments.append(f"--soft-time-limit={self.soft_time_limit}")
        return arguments


EVENTS = WorkerRole(
    queue="events",
    runs="event applies to the read model and an erase's clean-up (short database writes)",
    tasks=("directory.*", "bridge.*"),
    # Processes: time limits apply, and a child that dies (OOM) has its task given back at
    # once (reject_on_worker_lost); two cores keep two applies truly in parallel.
    pool="prefork",
    concurrency=2,
    prefetch_multiplier=1,
    # Above SQLite's 20 s busy timeout, so a locked database is a (retried) OperationalError.
    time_limit=30,
    soft_time_limit=25,
    retry_backoff_cap=15,
    visibility_timeout=60,
)
CACHE = WorkerRole(
    queue="cache",
    runs="cache invalidations and resources warms (one ~300 ms monolith call each)",
    tasks=("catalogue.*", "resources.*"),
    # Threads: the work waits on the monolith. Bounded, so that a burst of warms neither
    # floods the monolith nor takes the events' CPU.
    pool="threads",
    concurrency=4,
    prefetch_multiplier=1,
    # Kept by the monolith client's timeouts (MONOLITH_CONNECT/READ_TIMEOUT) plus a fill wait.
    time_limit=30,
    soft_time_limit=None,
    retry_backoff_cap=30,
    visibility_timeout=90,
)
REPORTS = WorkerRole(
    queue="reports",
    runs="beat-scheduled reports, reconciliation and cleanups",
    tasks=("reports.*", "celery.backend_cleanup"),
    # Processes, so that the time limits apply to reconciliation's long paging (celery#9203).
    pool="prefork",
    concurrency=1,
    prefetch_multiplier=1,
    time_limit=300,
    soft_time_limit=240,
    retry_backoff_cap=120,
    # A duplicate report task looks again after time_limit + 5 s (reports/tasks.py).
    visibility_timeout=900,
)

ROLES: dict[str, WorkerRole] = {role.queue: role for role in (EVENTS, CACHE, REPORTS)}
#: Where a task that no role names goes (Celery's `task_default_queue`).
DEFAULT = EVENTS


def role_of_task(task_name: str) -> WorkerRole:
    """The role whose queue `task_name` is routed to."""
    for role in ROLES.values():
        if role.routes(task_name):
            return role
    return DEFAULT


def role_of_queue(queue: str) -> WorkerRole | None:
    return ROLES.get(queue)


def celery_queue_names() -> list[str]:
    return list(ROLES)


def celery_routes() -> dict[str, dict[str, str]]:
    """Celery's `task_routes`: each role's task patterns to its queue."""
    return {pattern: {"queue": role.queue} for role in ROLES.values() for pattern in role.tasks}


def longest_visibility_timeout() -> int:
    """For a worker started without a role on several queues: long enough for every role's tasks."""
    return max(role.visibility_timeout for role in ROLES.values())
