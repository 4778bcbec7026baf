#!/bin/bash
set -o errexit -o pipefail -o nounset

exec celery -A users_service worker \
    --pool threads \
    --concurrency "${CELERY_WORKER_CONCURRENCY:-8}" \
    --queues events,cache,reports \
    --loglevel "${LOG_LEVEL:-INFO}"
