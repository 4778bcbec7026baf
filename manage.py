#!/usr/bin/env python
"""One entry point for both services.

    python manage.py hr <command>      # the HR monolith   (hr_monolith.settings)
    python manage.py users <command>   # the users service (users_service.settings)

`--settings` or DJANGO_SETTINGS_MODULE work as usual when no short form is given.
"""

import os
import sys

SERVICES = {"hr": "hr_monolith.settings", "users": "users_service.settings"}


def main() -> None:
    argv = list(sys.argv)
    if len(argv) > 1 and argv[1] in SERVICES:
        os.environ["DJANGO_SETTINGS_MODULE"] = SERVICES[argv.pop(1)]
    elif "DJANGO_SETTINGS_MODULE" not in os.environ and not any(a.startswith("--settings") for a in argv):
        sys.stderr.write(
            "Which service? Use `python manage.py hr <command>` or `python manage.py users <command>`"
            " (or set DJANGO_SETTINGS_MODULE).\n"
        )
        sys.exit(2)
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
