#!/bin/bash
set -o errexit -o pipefail -o nounset

# The scheduler is the settings' CELERY_BEAT_SCHEDULER: the database schedule behind a Redis lock, so a
# second beat stands by instead of scheduling every report twice. It keeps no schedule file.
exec celery -A users_service beat --loglevel "${LOG_LEVEL:-INFO}"
