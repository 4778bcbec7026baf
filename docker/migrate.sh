#!/bin/bash
# One-shot: migrate both databases, create the users service's account in the monolith and the
# periodic tasks, before any web process starts. Each step is idempotent: it runs at every `up`.
set -o errexit -o pipefail -o nounset

python manage.py hr migrate --noinput
# A plain login (reads only) whose token is MONOLITH_API_TOKEN, the value users-web and the workers
# call the monolith with: nothing is read back from the database.
python manage.py hr ensure_service_account users-service --token-from MONOLITH_API_TOKEN
python manage.py users migrate --noinput
exec python manage.py users setup_periodic_tasks
