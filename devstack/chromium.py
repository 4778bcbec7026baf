"""The Chromium that the browser tests drive (Playwright for Python, never its downloaded browsers):
`CHROMIUM_PATH`, else one on PATH, else Debian's `chromium` installed with apt-get when root."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

#: Names of the browser on PATH (Debian: chromium; Ubuntu and others: chromium-browser).
CHROMIUM_NAMES = ("chromium", "chromium-browser")


def chromium_binary(*, allow_system_install: bool = False) -> str:
    """The path of a Chromium to launch; raises RuntimeError saying how to get one."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        if os.access(configured, os.X_OK):
            return configured
        raise RuntimeError(f"CHROMIUM_PATH={configured} is not an executable")
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    if allow_system_install and shutil.which("apt-get") and os.geteuid() == 0:
        print("devstack: installing chromium with apt-get", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True)
        if found := shutil.which("chromium"):
            return found
    raise RuntimeError(
        "No Chromium found: install it (e.g. `apt-get install chromium`) or set CHROMIUM_PATH "
        "to a Chromium or Chrome binary."
    )
