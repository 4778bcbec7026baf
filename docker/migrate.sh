#!/bin/bash
# One-shot: migrate both databases, create the users service's account in the monolith and the
# periodic tasks, before any web process starts. Each step is idempotent: it runs at every `up`.
set -o errexit -o pipefail -o nounset

# The stack starts with empty metrics directories (docs/observability.md): no counter of a previous
# run adds to this one's.
find "${VAR_DIR}/prometheus/hr" "${VAR_DIR}/prometheus/users" -mindepth 1 -delete
python manage.py hr migrate --noinput
# A plain login (reads only, plus the outbox times `users trace` shows) whose token is
# MONOLITH_API_TOKEN, the value users-web and the workers call the monolith with: nothing is read
# back from the database.
python manage.py hr ensure_service_account users-service --token-from MONOLITH_API_TOKEN --permission outbox.view_outboxevent
python manage.py users migrate --noinput
exec python manage.py users setup_periodic_tasks
