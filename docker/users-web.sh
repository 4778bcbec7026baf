#!/bin/bash
set -o errexit -o pipefail -o nounset

# gunicorn reads WEB_CONCURRENCY for its worker count.
exec gunicorn users_service.wsgi:application \
    --bind 0.0.0.0:8001 \
    --access-logfile - \
    --graceful-timeout 20
