#!/bin/bash
set -o errexit -o pipefail -o nounset

# The scheduler is CELERY_BEAT_SCHEDULER: behind a Redis lock, so a second beat only stands by.
exec celery -A users_service beat \
    --schedule "${VAR_DIR:-/app/var}/celerybeat-schedule" \
    --loglevel "${LOG_LEVEL:-INFO}"
