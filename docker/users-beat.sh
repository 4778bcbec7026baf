#!/bin/bash
set -o errexit -o pipefail -o nounset

# Exactly one beat: a second one would schedule every report twice.
exec celery -A users_service beat \
    --scheduler django_celery_beat.schedulers:DatabaseScheduler \
    --schedule "${VAR_DIR:-/app/var}/celerybeat-schedule" \
    --loglevel "${LOG_LEVEL:-INFO}"
