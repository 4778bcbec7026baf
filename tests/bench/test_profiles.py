"""The profiles must profile the service on the database they set up for it."""

from __future__ import annotations

import subprocess
import sys

from devstack.stack import BASE_DIR


def test_importing_the_apply_profile_leaves_the_services_settings_unread():
    # bench._profile_apply sets USERS_DATABASE_URL before Django reads the settings; a module that
    # read them at import time left its worker on SQLite without the tables ("no such table").
    check = "import sys, bench._profile_apply; print('users_service.settings' in sys.modules)"
    run = subprocess.run(
        [sys.executable, "-c", check], cwd=BASE_DIR, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
