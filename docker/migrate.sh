#!/bin/bash
# One-shot: migrate both databases and create the periodic tasks, before any web process starts.
set -o errexit -o pipefail -o nounset

python manage.py hr migrate --noinput
python manage.py users migrate --noinput
exec python manage.py users setup_periodic_tasks
