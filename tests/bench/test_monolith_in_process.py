"""A benchmark that commits as the monolith in its own process takes the stack's settings, its log
level among them: the e2e bench asked for WARNING and wrote an INFO line per commit."""

from __future__ import annotations

import subprocess
import sys

from devstack.stack import BASE_DIR, manage, stack_env

CREATE_ONE = """
import sys
from bench._pipeline import monolith_in_process
monolith_in_process(dict(arg.split("=", 1) for arg in sys.argv[1:]))
from hr_monolith.people.services import user_create
user_create(email="ada@example.com", first_name="A", last_name="L")
print("created")
"""


def test_the_in_process_monolith_logs_at_the_stacks_level(tmp_path):
    env = stack_env(aws_endpoint="http://127.0.0.1:9", redis_url="redis://127.0.0.1:9", VAR_DIR=str(tmp_path))
    for name in ("DATABASE_URL", "USERS_DATABASE_URL"):
        env.pop(name, None)
    env["RELAY_WAKE"] = "false"
    manage("hr", "migrate", "--noinput", env=env)
    settings = {"VAR_DIR": str(tmp_path), "LOG_LEVEL": "WARNING", "RELAY_WAKE": "false"}
    base = {name: value for name, value in env.items() if name not in settings and name != "LOG_LEVEL"}
    run = subprocess.run(
        [sys.executable, "-c", CREATE_ONE, *(f"{name}={value}" for name, value in settings.items())],
        env=base,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "created"
    assert "user.created written" not in run.stderr, run.stderr
