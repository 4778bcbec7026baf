#!/bin/bash
set -o errexit -o pipefail -o nounset

# One queue role per container (users_service/queues.py declares its pool, concurrency and timeouts).
exec python manage.py users run_worker "${USERS_WORKER_ROLE}" --loglevel "${LOG_LEVEL:-INFO}"
