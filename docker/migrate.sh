#!/bin/bash
# One-shot: migrate both databases and create the periodic tasks, before any web process starts.
set -o errexit -o pipefail -o nounset

# The stack starts with empty metrics directories (docs/observability.md): no counter of a previous
# run adds to this one's.
find "${VAR_DIR}/prometheus/hr" "${VAR_DIR}/prometheus/users" -mindepth 1 -delete
python manage.py hr migrate --noinput
python manage.py users migrate --noinput
exec python manage.py users setup_periodic_tasks
